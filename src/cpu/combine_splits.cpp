#include "cpu/combine_splits.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace flashmla {
namespace cpu {

void combine_splits(const DecodeInputs& in, int64_t seq, float* weights) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const int64_t first_slot = in.num_splits[seq];
  const int num = static_cast<int>(in.num_splits[seq + 1] - first_slot);
  float merged[kHeadDimV];
  for (int kv = 0; kv < in.shape.h_kv; ++kv) {
    for (int r = 0; r < in.shape.q_rows; ++r) {
      float max_lse = -kInf;
      for (int s = 0; s < num; ++s)
        max_lse = std::max(max_lse, *in.splits->lse(first_slot + s, kv, r));
      if (max_lse == -kInf) {
        // No split saw a key (causal row before its first visible key).
        in.store_final(seq, kv, r, nullptr, 0.0f, kInf);
        continue;
      }
      float sum = 0.0f;
      for (int s = 0; s < num; ++s)
        sum += std::exp(*in.splits->lse(first_slot + s, kv, r) - max_lse);
      const float row_lse = max_lse + std::log(sum);
      for (int s = 0; s < num; ++s) {
        weights[s] = std::exp(*in.splits->lse(first_slot + s, kv, r) - row_lse);
      }
      std::fill(merged, merged + kHeadDimV, 0.0f);
      for (int s = 0; s < num; ++s) {
        // A split that saw no key has weight exactly 0: skip it rather than read its partial.
        if (weights[s] == 0.0f) continue;
        const float* o = in.splits->out(first_slot + s, kv, r);
        for (int c = 0; c < kHeadDimV; ++c) merged[c] += weights[s] * o[c];
      }
      in.store_final(seq, kv, r, merged, 1.0f, row_lse);
    }
  }
}

}  // namespace cpu
}  // namespace flashmla
