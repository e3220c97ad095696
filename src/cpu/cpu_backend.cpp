#include "cpu/cpu_backend.h"

#include <algorithm>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "core/scheduler.h"
#include "cpu/attend_piece.h"
#include "cpu/combine_splits.h"
#include "cpu/decode_inputs.h"
#include "cpu/parallel.h"
#include "cpu/split_buffers.h"

namespace flashmla {
namespace cpu {

namespace {

Status out_of_memory(const char* what, size_t bytes) {
  return Status(StatusCode::kInternalError, std::string("CPU backend: could not allocate ") +
                                                std::to_string(bytes) + " bytes for " + what);
}

DecodeInputs resolve_inputs(const DecodeArgs& args, const DecodeShape& shape) {
  DecodeInputs in;
  in.shape = shape;
  in.q = static_cast<const uint16_t*>(args.q.data);
  in.k_cache = static_cast<const uint16_t*>(args.k_cache.data);
  for (int d = 0; d < 3; ++d) {
    in.q_stride[d] = args.q.stride[d];
    in.k_stride[d] = args.k_cache.stride[d];
  }
  in.block_table = static_cast<const int32_t*>(args.block_table.data);
  in.block_table_stride[0] = args.block_table.stride[0];
  in.block_table_stride[1] = args.block_table.stride[1];
  in.seqlens = static_cast<const int32_t*>(args.cache_seqlens.data);
  in.metadata = static_cast<const int32_t*>(args.tile_scheduler_metadata.data);
  in.num_splits = static_cast<const int32_t*>(args.num_splits.data);
  in.out = static_cast<uint16_t*>(args.out.data);
  in.lse = static_cast<float*>(args.lse.data);
  return in;
}

// Runs every piece of part `part` for one kv head, in the order the GPU's CTA would.
void run_part(const DecodeInputs& in, int part, int kv_head, PieceScratch* scratch) {
  const int32_t* row = in.metadata + static_cast<int64_t>(part) * kMetadataFields;
  const int64_t begin_seq = row[scheduler::kBeginSeq];
  const int64_t end_seq = row[scheduler::kEndSeq];
  for (int64_t seq = begin_seq; seq <= end_seq; ++seq) {
    Piece piece;
    piece.seq = seq;
    piece.kv_head = kv_head;
    piece.page_begin = seq == begin_seq ? row[scheduler::kBeginPage] : 0;
    piece.page_end =
        seq == end_seq ? row[scheduler::kEndPage] : scheduler::pages_of(in.seqlens[seq]);
    piece.split = seq == begin_seq ? row[scheduler::kBeginSplit] : 0;
    attend_piece(in, piece, scratch);
  }
}

}  // namespace

Status get_metadata(const MetadataArgs& args) {
  const int64_t batch = args.cache_seqlens.shape[0];
  const int parts = static_cast<int>(args.tile_scheduler_metadata.shape[0]);
  if (!scheduler::plan_on_host(static_cast<const int32_t*>(args.cache_seqlens.data), batch, parts,
                               args.q_rows_per_kv_head, args.h_kv,
                               static_cast<int32_t*>(args.tile_scheduler_metadata.data),
                               static_cast<int32_t*>(args.num_splits.data))) {
    return Status(StatusCode::kInternalError, "host scheduler left pages unassigned (batch " +
                                                  std::to_string(batch) + ", num_sm_parts " +
                                                  std::to_string(parts) + ")");
  }
  return Status::Ok();
}

Status decode(const DecodeArgs& args, const DecodeShape& shape) {
  DecodeInputs in = resolve_inputs(args, shape);
  const int parts = shape.num_sm_parts;
  const int workers = std::min(parts, cpu_num_sm_parts());

  // Sequences of more than one split go through the combine pass.
  std::vector<int64_t> split_seqs;
  int max_splits_per_seq = 1;
  const int64_t total_splits = in.num_splits[shape.batch];
  std::unique_ptr<float[]> own_workspace;
  void* workspace = args.workspace;
  int64_t workspace_splits = shape.batch + parts;
  std::vector<PieceScratch> scratch;
  std::vector<float> weights;
  size_t bytes = 0;
  try {
    for (int64_t seq = 0; seq < shape.batch; ++seq) {
      const int count = in.num_splits[seq + 1] - in.num_splits[seq];
      if (count > 1) split_seqs.push_back(seq);
      max_splits_per_seq = std::max(max_splits_per_seq, count);
    }
    if (workspace == nullptr) {
      // Room for the splits this plan uses only, which is often far less than the bound.
      workspace_splits = total_splits;
      bytes = SplitBuffers::bytes(workspace_splits, shape.q_rows, shape.h_kv);
      own_workspace.reset(new float[(bytes + sizeof(float) - 1) / sizeof(float)]);
      workspace = own_workspace.get();
    }
    scratch.reserve(static_cast<size_t>(workers));
    for (int w = 0; w < workers; ++w) scratch.emplace_back(shape.q_rows);
    weights.resize(static_cast<size_t>(workers) * static_cast<size_t>(max_splits_per_seq));
  } catch (const std::bad_alloc&) {
    return out_of_memory("the split workspace and per-thread buffers", bytes);
  }
  SplitBuffers splits(workspace, workspace_splits, shape.q_rows, shape.h_kv);
  in.splits = &splits;

  // A task is one (part, kv head): the unit a GPU thread block owns for one row block.
  parallel_for(static_cast<int64_t>(parts) * shape.h_kv, workers, [&](int64_t task, int worker) {
    run_part(in, static_cast<int>(task / shape.h_kv), static_cast<int>(task % shape.h_kv),
             &scratch[static_cast<size_t>(worker)]);
  });
  parallel_for(static_cast<int64_t>(split_seqs.size()), workers, [&](int64_t task, int worker) {
    combine_splits(in, split_seqs[static_cast<size_t>(task)],
                   weights.data() + static_cast<size_t>(worker) * max_splits_per_seq);
  });
  return Status::Ok();
}

}  // namespace cpu
}  // namespace flashmla
