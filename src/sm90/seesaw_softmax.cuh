// The online-softmax step of the seesaw kernel, done by the warpgroup that owns a page: mask the
// page's scores, take the new running row maxima, turn S into P = 2^(S - max), pack P to 16 bits
// in the registers the owner's P V reads, and write it as a 64x64 K-major slab for the other's.
//
// Accumulator layout (wgmma m64n64, per thread): rows row0 = 16 * warp_in_group + lane / 4 and
// row0 + 8; s[4 t + e] is row row0 + 8 (e / 2), column 8 t + 2 (lane % 4) + e % 2. A row's 64
// scores sit in the four threads of a quad, so row maxima need two shuffles and no shared memory.
#pragma once

#include <cmath>

#include "sm90/ptx_primitives.cuh"
#include "sm90/seesaw_layout.cuh"

namespace flashmla {
namespace sm90 {
namespace seesaw {

struct SoftmaxStep {
  float max[2];       // running maxima after this page (base-2 scaled scores; -inf: nothing seen)
  float rescale[2];   // factor for everything accumulated before this page
  float row_sum[2];   // this thread's share of sum(P) over the page
};

// s: the page's raw scores, overwritten with P. prev_max: running maxima before the page.
// first_key: the page's first token index in its sequence; limit: keys visible to each row.
__device__ __forceinline__ SoftmaxStep softmax_step(float* s, const float* prev_max, int first_key,
                                                   const int* limit, float scale_log2, int lane) {
  SoftmaxStep step;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float page_max = -INFINITY;
#pragma unroll
    for (int t = 0; t < 8; ++t) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        float& v = s[4 * t + 2 * r + e];
        const int key = first_key + 8 * t + 2 * (lane & 3) + e;
        // A select, not arithmetic: scores of slots past the length may be NaN.
        v = key < limit[r] ? v * scale_log2 : -INFINITY;
        page_max = fmaxf(page_max, v);
      }
    }
    page_max = fmaxf(page_max, __shfl_xor_sync(0xffffffffu, page_max, 1));
    page_max = fmaxf(page_max, __shfl_xor_sync(0xffffffffu, page_max, 2));
    const float new_max = fmaxf(prev_max[r], page_max);
    // A row with no visible key yet keeps max -inf; subtracting 0 then keeps every term 0.
    const float ref = new_max == -INFINITY ? 0.f : new_max;
    step.max[r] = new_max;
    step.rescale[r] = fast_exp2(prev_max[r] - ref);
    float sum = 0.f;
#pragma unroll
    for (int t = 0; t < 8; ++t) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        float& v = s[4 * t + 2 * r + e];
        v = fast_exp2(v - ref);
        sum += v;
      }
    }
    step.row_sum[r] = sum;
  }
  return step;
}

// P (the s array after softmax_step) as 16-bit pairs in the order of wgmma's A fragment for
// k = 16: a[4 kk + 2 h + r] holds row row0 + 8 r, columns 16 kk + 8 h + 2 (lane % 4) and + 1, that
// is the accumulator tile t = 2 kk + h. The owner's P V reads P straight from these registers.
template <typename T>
__device__ __forceinline__ void pack_p(const float* s, uint32_t* a) {
#pragma unroll
  for (int t = 0; t < 8; ++t) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      a[4 * (t >> 1) + 2 * (t & 1) + r] = ElementTraits<T>::pack(s[4 * t + 2 * r], s[4 * t + 2 * r + 1]);
    }
  }
}

// Writes the packed P (pack_p) into the slab at p_slab, for the other warpgroup's P V.
template <typename T>
__device__ __forceinline__ void store_p(T* p_slab, const uint32_t* a, int row0, int lane) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = row0 + 8 * r;
#pragma unroll
    for (int t = 0; t < 8; ++t) {
      const int col = 8 * t + 2 * (lane & 3);
      const int offset = row * 64 + ((t ^ (row & 7)) << 3) + (col & 7);
      *reinterpret_cast<uint32_t*>(p_slab + offset) = a[4 * (t >> 1) + 2 * (t & 1) + r];
    }
  }
}

}  // namespace seesaw
}  // namespace sm90
}  // namespace flashmla
