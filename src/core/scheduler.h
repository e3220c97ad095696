// The host scheduler: the executable specification of the split plan. The GPU metadata kernel
// (src/sm90/metadata_kernel.cu) must produce exactly the same integers; a GPU test compares them.
//
// Work model: sequence i has pages(i) = ceil(L_i / 64) pages and costs pages(i) + kFixedOverheadPages.
// Every part receives a budget of payload = ceil(total_cost / num_parts) + kFixedOverheadPages and
// takes sequences in order: a sequence that fits whole is taken whole; otherwise the part takes
// (budget - overhead) pages of it (when that is positive) and the next part continues that sequence
// as its next split. Each split costs the overhead again, which the extra overhead in the payload
// pays for, so the parts always cover every page (a property test checks it).
#pragma once

#include <cstdint>

#include "core/hostdevice.h"
#include "flashmla/constants.h"

namespace flashmla {
namespace scheduler {

// Columns of one metadata row. A part covers sequences begin_seq..end_seq (inclusive); in begin_seq
// it starts at page begin_page, in end_seq it stops before page end_page, in every sequence strictly
// between it takes all pages. An empty part has begin_seq = b and end_seq = b - 1.
enum MetadataField : int {
  kBeginSeq = 0,
  kBeginPage = 1,
  kEndSeq = 2,
  kEndPage = 3,      // exclusive
  kBeginSplit = 4,   // split index, within begin_seq, of this part's first piece
  kStampBatch = 5,   // b the plan was made for (lets the decode reject a plan of another shape)
  kStampRows = 6,    // q_rows_per_kv_head the plan was made for
  kStampHeadsKV = 7, // h_kv the plan was made for
};
static_assert(kMetadataFields == 8, "metadata row layout");

FLASHMLA_HD inline int64_t pages_of(int32_t seqlen) {
  return seqlen <= 0 ? 0 : (static_cast<int64_t>(seqlen) + kPageSize - 1) / kPageSize;
}

// Budget of each part, from the total cost over all sequences.
FLASHMLA_HD inline int64_t payload_of(int64_t total_cost, int num_parts) {
  return (total_cost + num_parts - 1) / num_parts + kFixedOverheadPages;
}

// Walks the plan. `pages(i)` gives the pages of sequence i; `emit_part(p, row[5])` receives each
// part's first five fields; `emit_splits(i, n)` receives the split count of sequence i, in order
// of i, once per sequence (the GPU kernel keeps its prefix sums in a register on that). Shared by
// the host scheduler and the GPU metadata kernel so that both follow one definition.
// Returns false if some page was left unassigned (cannot happen; checked by tests).
template <typename PagesFn, typename PartFn, typename SplitsFn>
FLASHMLA_HD bool walk_plan(int64_t batch, int num_parts, int64_t payload, PagesFn pages,
                                   PartFn emit_part, SplitsFn emit_splits) {
  int64_t seq = 0;    // current sequence
  int64_t page = 0;   // first page of `seq` not yet assigned
  int64_t split = 0;  // split index of the next piece of `seq`
  for (int p = 0; p < num_parts; ++p) {
    int64_t row[5];
    row[kBeginSeq] = seq;
    row[kBeginPage] = page;
    row[kBeginSplit] = split;
    row[kEndSeq] = seq - 1;  // stays so when the part takes nothing
    row[kEndPage] = 0;
    int64_t budget = payload;
    while (seq < batch) {
      const int64_t total_pages = pages(seq);
      const int64_t remaining = total_pages - page;
      if (remaining + kFixedOverheadPages <= budget) {
        // The rest of this sequence fits: finish it here.
        budget -= remaining + kFixedOverheadPages;
        emit_splits(seq, split + 1);
        row[kEndSeq] = seq;
        row[kEndPage] = total_pages;
        ++seq;
        page = 0;
        split = 0;
        continue;
      }
      const int64_t take = budget - kFixedOverheadPages;
      if (take > 0) {
        // Take a piece; the next part continues this sequence as a new split.
        page += take;
        ++split;
        row[kEndSeq] = seq;
        row[kEndPage] = page;
      }
      break;
    }
    emit_part(p, row);
  }
  return seq == batch;
}

// Host scheduler. Fills metadata[num_parts * 8] and num_splits[batch + 1] (prefix sums) from
// seqlens[batch]. Returns false only on a broken invariant.
bool plan_on_host(const int32_t* seqlens, int64_t batch, int num_parts, int q_rows_per_kv_head,
                  int h_kv, int32_t* metadata, int32_t* num_splits);

}  // namespace scheduler
}  // namespace flashmla
