// The narrow kernel's plan (narrow_kernel.cuh): 16 or 32 query rows per block on
// warpgroup MMA, with the scores computed transposed so that no row is padded to 64.
//
// wgmma's M is always 64. The seesaw kernel puts the query rows on M, which wastes 3/4 (16 rows)
// or 1/2 (32 rows) of the tensor-core work. Here the page's 64 tokens are M and the query rows are
// N (16 or 32): S^T = K Q^T (A = the page's K slabs, B = the Q slabs, both K-major), then
// O^T += V^T P^T (A = V read MN-major from the page's value slabs, B = P^T, K-major). One math
// warpgroup does all of a page for its kN rows; a producer warp streams the pages' slabs through a
// ring of slab slots with TMA, one mbarrier pair per slot, so loads run ahead by as many slabs as
// fit. With kGroups = 2 (33-64 rows per kv head) two math warpgroups of 32 rows each read every
// slab of the same ring: the page leaves L2 once for 64 rows, and the two warpgroups' chains (S,
// softmax, P V) run side by side on the SM's tensor cores.
//
// Shared memory: per math warpgroup Q (9 slabs of kN rows x 128 bytes) and P^T (kN rows x 64
// tokens; the epilogue's row sums reuse it), then the ring of 8 KB slabs (64 tokens x 64 columns:
// the seesaw kernel's slab layout, 128-byte swizzle), the cross-warp row maxima and the mbarriers.
#pragma once

#include <cstdint>

#include "flashmla/constants.h"
#include "sm90/seesaw_layout.cuh"

namespace flashmla {
namespace sm90 {
namespace narrow {

constexpr int kMathThreads = 128;  // per math warpgroup
constexpr int kMathWarps = kMathThreads / 32;
// Threads of a block with kGroups math warpgroups, then the producer warpgroup (one thread loads).
__host__ __device__ constexpr int threads(int groups) { return groups * kMathThreads + 128; }
// With two math warpgroups, registers are moved from the producer to them (setmaxnreg), as in
// the seesaw kernel: 2 x 128 x 232 + 128 x 40 = 64K.
constexpr int kProducerRegisters = 40;
constexpr int kMathRegisters = 232;
constexpr int kSlabs = seesaw::kSlabs;            // 9 per page: 8 value slabs, then RoPE
constexpr int kValueSlabs = seesaw::kValueSlabs;  // 8
constexpr int kRopeSlab = seesaw::kRopeSlab;      // 8
constexpr int kSlabBytes = seesaw::kSlabBytes;    // 64 tokens x 128 bytes
constexpr int kSmemLimit = 227 * 1024;
constexpr int kBarMath = 1;  // named barrier of math warpgroup 0; group g uses kBarMath + g

// The order in which a page's slabs enter the ring: RoPE first, because S is its only reader
// and the ring frees slots in order, then the value slabs, freed after P V.
__host__ __device__ constexpr int slab_of_position(int i) { return i == 0 ? kRopeSlab : i - 1; }

template <int kN, int kGroups = 1>
struct Layout {
  static_assert(kN == 16 || kN == 32, "query rows per math warpgroup");
  static_assert(kGroups == 1 || (kGroups == 2 && kN == 32), "one warpgroup, or two of 32 rows");
  static constexpr int kQSlabBytes = kN * 128;  // kN rows of 64 columns
  static constexpr int kGroupBytes = (kSlabs + 1) * kQSlabBytes;  // Q, then P^T: kN rows of 64 tokens
  // Group g's Q and P^T; the ring follows them, 1024-aligned (kQSlabBytes is).
  static constexpr int off_q(int g) { return g * kGroupBytes; }
  static constexpr int off_p(int g) { return g * kGroupBytes + kSlabs * kQSlabBytes; }
  static constexpr int kOffRing = kGroups * kGroupBytes;
  static constexpr int kMaxBytes = kGroups * 2 * kMathWarps * kN * 4;  // [group][2][warp][kN] f32
  // Slab slots: everything left after the fixed parts and 16 bytes of mbarriers per slot.
  static constexpr int kRingSlabs = (kSmemLimit - kOffRing - kMaxBytes) / (kSlabBytes + 16);
  static constexpr int kOffMax = kOffRing + kRingSlabs * kSlabBytes;
  static constexpr int kOffBarriers = kOffMax + kMaxBytes;
  static constexpr int kFullBarriers = 0;            // [slot]: the slab landed
  static constexpr int kEmptyBarriers = kRingSlabs;  // [slot]: every math warp is done with it
  static constexpr int kNumBarriers = 2 * kRingSlabs;
  static constexpr int kSmemBytes = kOffBarriers + kNumBarriers * 8;
  static_assert(kSmemBytes <= kSmemLimit, "shared memory of one block");
  static_assert(kRingSlabs >= 2 * kSlabs, "at least two pages in flight");
  static_assert(kMathWarps * kN * 4 <= kQSlabBytes, "the row sums fit in P^T");
  static_assert(kOffRing % 1024 == 0 && kQSlabBytes % 1024 == 0, "swizzle atoms are 1024-aligned");
};

// A position in the ring: a slot and the parity of its current use (flips at every wrap). The
// producer and the math warpgroup walk the same sequence of slab positions.
struct RingPos {
  int slot;
  uint32_t phase;

  // steps <= ring_slabs: callers step within a page (at most kSlabs) and walk pages one at a
  // time, so one wrap at most (a loop here would cost O(pages) per call on long sequences).
  __device__ __forceinline__ RingPos advanced(int steps, int ring_slabs) const {
    RingPos r{slot + steps, phase};
    if (r.slot >= ring_slabs) {
      r.slot -= ring_slabs;
      r.phase ^= 1u;
    }
    return r;
  }
};

}  // namespace narrow
}  // namespace sm90
}  // namespace flashmla
