// The fp64 oracle: MLA decoding computed the plainest way (gather each row's visible keys, softmax
// and sums in double), knowing nothing about the split plan. Tests judge every backend against it.
#pragma once

#include <vector>

#include "flashmla/tensor.h"

namespace flashmla {
namespace test {

struct OracleResult {
  std::vector<double> out;  // [b, s_q, h_q, 512]
  std::vector<double> lse;  // [b, h_q, s_q]; +inf for a row that sees no key
};

// Widens a bfloat16 / float16 bit pattern to double by its definition (sign, exponent, mantissa),
// independently of the library's conversion helpers.
double half_bits_to_double(uint16_t bits, DType dtype);

// q [b, s_q, h_q, 576], k_cache [num_blocks, 64, h_kv, 576] (bf16 or fp16, any strides),
// block_table [b, max_blocks] int32, cache_seqlens [b] int32, all in host memory.
// softmax_scale 0 means 1/sqrt(576).
OracleResult oracle_decode(const TensorView& q, const TensorView& k_cache,
                           const TensorView& block_table, const TensorView& cache_seqlens,
                           double softmax_scale, bool causal);

}  // namespace test
}  // namespace flashmla
