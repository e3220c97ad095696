// The seesaw decode kernel's shared-memory plan, thread roles, and the walk over a block's work.
//
// Tiles are stored as "slabs": 64 rows x 64 columns of 16-bit elements, 128-byte rows, 1024-byte
// aligned, 16-byte chunks XOR-swizzled by the row's low three bits. That is the layout TMA writes
// with CU_TENSOR_MAP_SWIZZLE_128B and the one wgmma's 128-byte swizzle mode reads. A Q tile or a K
// page (64 x 576) is 9 slabs: slabs 0..7 hold the 512 value columns, slab 8 the 64 RoPE columns.
#pragma once

#include <cstdint>

#include "core/scheduler.h"
#include "flashmla/constants.h"
#include "sm90/decode_params.h"

namespace flashmla {
namespace sm90 {
namespace seesaw {

// Roles: warpgroups 0 and 1 do the math (each owns every other page and half of O's columns);
// warpgroup 2 is the producer (one lane issues the pages' TMA loads; where Q is loaded with TMA,
// one lane of its second warp issues those). The producer is a whole warpgroup
// because registers are handed out per warpgroup: setmaxnreg moves most of its share to the math
// warpgroups, which hold 160 accumulators per thread.
constexpr int kMathWarpgroups = 2;
constexpr int kMathThreads = kMathWarpgroups * 128;
constexpr int kProducerWarp = kMathThreads / 32;  // first warp of the producer warpgroup
constexpr int kThreads = kMathThreads + 128;
constexpr int kProducerRegisters = 40;
constexpr int kMathRegisters = 232;  // 2 x 128 x 232 + 128 x 40 <= 64K
constexpr int kRows = 64;          // query rows per block
constexpr int kBuffers = 2;        // K pages resident at once; page g lives in buffer g % 2
constexpr int kSlabs = kHeadDimK / 64;           // 9
constexpr int kValueSlabs = kHeadDimV / 64;      // 8
constexpr int kRopeSlab = kValueSlabs;           // 8: read by S only, then reused for P
constexpr int kHalfSlabs = kValueSlabs / kMathWarpgroups;  // 4 value slabs per warpgroup
// Other-page-first order: how many of a page's slabs (slab_order positions) its S is issued on
// before the warpgroup applies the other's previous page; the rest of S follows. Waiting for the
// whole page first held the other's page, and so the load into its buffer, for a full page load.
// 4 measured best on an H100 (bench/NOTES.md step 32: 0 and 2 slower; 9 is the unsplit order).
#ifndef FLASHMLA_SEESAW_S_SPLIT
#define FLASHMLA_SEESAW_S_SPLIT 4
#endif
constexpr int kSFirstSlabs = FLASHMLA_SEESAW_S_SPLIT;
static_assert(kSFirstSlabs >= 0 && kSFirstSlabs <= kSlabs, "a slab_order position");
constexpr int kSlabBytes = 64 * 128;
constexpr int kTileBytes = kSlabs * kSlabBytes;  // 73728

// Named barrier ids (0 is __syncthreads).
constexpr int kBarMath = 1;       // the 256 math threads
constexpr int kBarWarpgroup = 2;  // + warpgroup: its 128 threads

// Shared memory, in bytes.
constexpr int kOffQ = 0;
constexpr int kOffK = kOffQ + kTileBytes;                     // kBuffers pages
constexpr int kOffStats = kOffK + kBuffers * kTileBytes;      // [warpgroup][max | scale][64] f32
constexpr int kOffRowSum = kOffStats + kMathWarpgroups * 2 * kRows * 4;  // [warpgroup][64] f32
constexpr int kOffBarriers = kOffRowSum + kMathWarpgroups * kRows * 4;
// mbarriers: full[buffer][slab] (TMA landed), empty[buffer][slab] (8 math warps done with it),
// stats[warpgroup] (the owner of a page published its P, row maxima and rescale factors; every
// thread of the warpgroup arrives); in the kQTma instances (Q by TMA), q_full[slab]
// (a piece's Q slab landed) and q_empty (both warpgroups are past the piece's last S: one math
// thread arrives).
constexpr int kFullBarriers = 0;
constexpr int kEmptyBarriers = kFullBarriers + kBuffers * kSlabs;
constexpr int kStatsBarriers = kEmptyBarriers + kBuffers * kSlabs;
constexpr int kQFullBarriers = kStatsBarriers + kMathWarpgroups;
constexpr int kQEmptyBarrier = kQFullBarriers + kSlabs;
constexpr int kNumBarriers = kQEmptyBarrier + 1;
constexpr int kStatsArrivals = kMathThreads / kMathWarpgroups;  // a warpgroup
constexpr int kSmemBytes = kOffBarriers + kNumBarriers * 8;
static_assert(kSmemBytes <= 227 * 1024, "shared memory of one block");
static_assert(kOffK % 1024 == 0 && kTileBytes % 1024 == 0, "slabs are 1024-byte aligned");

// The order in which buffer b's slabs are loaded and consumed by S: the value slabs of its owner's
// half first (the owner releases those first), then the other half, the RoPE slab last (it holds P
// until both warpgroups are done with the page).
__device__ __forceinline__ int slab_order(int buffer, int i) {
  return i == kRopeSlab ? kRopeSlab : (i + buffer * kHalfSlabs) % kValueSlabs;
}

// One sequence's piece of a block's work (the scheduler's plan, core/scheduler.h).
struct Piece {
  int seq;
  int seqlen;
  int page_begin;  // first page, within the sequence
  int num_pages;
  int split;       // split index within the sequence
  int first_slot;  // first split slot of the sequence in the workspace
  bool single_split;
};

struct PartRange {
  int begin_seq, begin_page, end_seq, end_page, begin_split;
};

__device__ __forceinline__ PartRange part_range(const DecodeParams& p, int part) {
  const int32_t* meta = p.metadata + static_cast<int64_t>(part) * kMetadataFields;
  return {meta[scheduler::kBeginSeq], meta[scheduler::kBeginPage], meta[scheduler::kEndSeq],
          meta[scheduler::kEndPage], meta[scheduler::kBeginSplit]};
}

__device__ __forceinline__ Piece piece_of(const DecodeParams& p, const PartRange& r, int seq) {
  Piece c;
  c.seq = seq;
  c.seqlen = p.seqlens[seq];
  c.page_begin = seq == r.begin_seq ? r.begin_page : 0;
  const int page_end = seq == r.end_seq ? r.end_page : static_cast<int>(scheduler::pages_of(c.seqlen));
  c.num_pages = page_end - c.page_begin;
  c.split = seq == r.begin_seq ? r.begin_split : 0;
  c.first_slot = p.num_splits[seq];
  c.single_split = p.num_splits[seq + 1] - c.first_slot == 1;
  return c;
}

}  // namespace seesaw
}  // namespace sm90
}  // namespace flashmla
