#include "oracle.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "flashmla/constants.h"

namespace flashmla {
namespace test {

double half_bits_to_double(uint16_t bits, DType dtype) {
  // bfloat16: 8 exponent bits (bias 127), 7 mantissa bits; float16: 5 (bias 15) and 10.
  const int mantissa_bits = dtype == DType::kBFloat16 ? 7 : 10;
  const int exponent_bits = 15 - mantissa_bits;
  const int bias = (1 << (exponent_bits - 1)) - 1;
  const double sign = (bits & 0x8000) ? -1.0 : 1.0;
  const int exponent = (bits >> mantissa_bits) & ((1 << exponent_bits) - 1);
  const int mantissa = bits & ((1 << mantissa_bits) - 1);
  if (exponent == (1 << exponent_bits) - 1) {
    return mantissa ? std::numeric_limits<double>::quiet_NaN()
                    : sign * std::numeric_limits<double>::infinity();
  }
  if (exponent == 0) return sign * std::ldexp(mantissa, 1 - bias - mantissa_bits);
  return sign * std::ldexp(mantissa + (1 << mantissa_bits), exponent - bias - mantissa_bits);
}

OracleResult oracle_decode(const TensorView& q, const TensorView& k_cache,
                           const TensorView& block_table, const TensorView& cache_seqlens,
                           double softmax_scale, bool causal) {
  const int64_t b = q.shape[0];
  const int s_q = static_cast<int>(q.shape[1]);
  const int h_q = static_cast<int>(q.shape[2]);
  const int h_kv = static_cast<int>(k_cache.shape[2]);
  const int ngroups = h_q / h_kv;
  const double scale = softmax_scale > 0 ? softmax_scale : 1.0 / std::sqrt(double{kHeadDimK});
  const auto* qd = static_cast<const uint16_t*>(q.data);
  const auto* kd = static_cast<const uint16_t*>(k_cache.data);
  const auto* bt = static_cast<const int32_t*>(block_table.data);
  const auto* lens = static_cast<const int32_t*>(cache_seqlens.data);

  OracleResult res;
  res.out.assign(static_cast<size_t>(b * s_q * h_q * kHeadDimV), 0.0);
  res.lse.assign(static_cast<size_t>(b * h_q * s_q), std::numeric_limits<double>::infinity());

  std::vector<double> keys;  // [L][576] of one kv head
  std::vector<double> scores;
  std::vector<double> qrow(kHeadDimK);
  for (int64_t n = 0; n < b; ++n) {
    const int64_t len = std::max(0, lens[n * cache_seqlens.stride[0]]);
    for (int kv = 0; kv < h_kv; ++kv) {
      // Gather the sequence's keys once per kv head: only tokens below L are ever read.
      keys.resize(static_cast<size_t>(len * kHeadDimK));
      for (int64_t t = 0; t < len; ++t) {
        const int64_t page =
            bt[n * block_table.stride[0] + (t / kPageSize) * block_table.stride[1]];
        const uint16_t* src = kd + page * k_cache.stride[0] + (t % kPageSize) * k_cache.stride[1] +
                              kv * k_cache.stride[2];
        for (int c = 0; c < kHeadDimK; ++c) {
          keys[static_cast<size_t>(t * kHeadDimK + c)] = half_bits_to_double(src[c], q.dtype);
        }
      }
      for (int i = 0; i < s_q; ++i) {
        const int64_t visible = causal ? std::min(len, len - s_q + i + 1) : len;
        for (int g = 0; g < ngroups; ++g) {
          const int h = kv * ngroups + g;
          if (visible <= 0) continue;  // out stays 0, lse +inf
          const uint16_t* qs = qd + n * q.stride[0] + i * q.stride[1] + h * q.stride[2];
          for (int c = 0; c < kHeadDimK; ++c)
            qrow[static_cast<size_t>(c)] = half_bits_to_double(qs[c], q.dtype);
          scores.resize(static_cast<size_t>(visible));
          double max_score = -std::numeric_limits<double>::infinity();
          for (int64_t t = 0; t < visible; ++t) {
            const double* k = &keys[static_cast<size_t>(t * kHeadDimK)];
            double dot = 0.0;
            for (int c = 0; c < kHeadDimK; ++c) dot += qrow[static_cast<size_t>(c)] * k[c];
            scores[static_cast<size_t>(t)] = scale * dot;
            max_score = std::max(max_score, scores[static_cast<size_t>(t)]);
          }
          double sum = 0.0;
          for (double& s : scores) {
            s = std::exp(s - max_score);
            sum += s;
          }
          double* o = &res.out[static_cast<size_t>(((n * s_q + i) * h_q + h) * kHeadDimV)];
          for (int64_t t = 0; t < visible; ++t) {
            const double w = scores[static_cast<size_t>(t)] / sum;
            const double* v = &keys[static_cast<size_t>(t * kHeadDimK)];
            for (int c = 0; c < kHeadDimV; ++c) o[c] += w * v[c];
          }
          res.lse[static_cast<size_t>((n * h_q + h) * s_q + i)] = max_score + std::log(sum);
        }
      }
    }
  }
  return res;
}

}  // namespace test
}  // namespace flashmla
