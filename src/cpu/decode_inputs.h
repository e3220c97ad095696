// The tensors of one validated decode call, resolved to typed host pointers and element strides,
// plus the addressing shared by the attention pass and the combine pass.
#pragma once

#include <cstdint>

#include "core/decode_shape.h"
#include "cpu/split_buffers.h"
#include "flashmla/constants.h"
#include "flashmla/half.h"

namespace flashmla {
namespace cpu {

struct DecodeInputs {
  DecodeShape shape;
  const uint16_t* q = nullptr;  // [b, s_q, h_q, 576]
  int64_t q_stride[3] = {0, 0, 0};
  const uint16_t* k_cache = nullptr;  // [num_blocks, 64, h_kv, 576]
  int64_t k_stride[3] = {0, 0, 0};
  const int32_t* block_table = nullptr;  // [b, max_blocks_per_seq]
  int64_t block_table_stride[2] = {0, 0};
  const int32_t* seqlens = nullptr;     // [b]
  const int32_t* metadata = nullptr;    // [num_sm_parts, 8]
  const int32_t* num_splits = nullptr;  // [b + 1]
  uint16_t* out = nullptr;              // [b, s_q, h_q, 512], contiguous
  float* lse = nullptr;                 // [b, h_q, s_q], contiguous
  SplitBuffers* splits = nullptr;

  // Row r of a kv head's block is query token r / ngroups of head kv_head * ngroups + r % ngroups.
  int token_of_row(int row) const { return row / shape.ngroups; }
  int head_of_row(int kv_head, int row) const {
    return kv_head * shape.ngroups + row % shape.ngroups;
  }

  // dst[c] = src[c] * scale for n values of the call's dtype. The dtype is tested once per row,
  // not per element: the mainloop widens every key it reads, and testing per element cost 3-5% of
  // a one-thread bf16 decode (the compiler does not hoist the test out of the loop).
  void widen(const uint16_t* src, int n, float scale, float* dst) const {
    if (shape.dtype == DType::kBFloat16) {
      for (int c = 0; c < n; ++c) dst[c] = bf16_to_float(src[c]) * scale;
    } else {
      for (int c = 0; c < n; ++c) dst[c] = fp16_to_float(src[c]) * scale;
    }
  }
  uint16_t from_float(float v) const { return float_to_half(v, shape.dtype); }

  const uint16_t* q_row(int64_t seq, int kv_head, int row) const {
    return q + seq * q_stride[0] + token_of_row(row) * q_stride[1] +
           head_of_row(kv_head, row) * q_stride[2];
  }
  const uint16_t* key(int64_t page_id, int64_t slot, int kv_head) const {
    return k_cache + page_id * k_stride[0] + slot * k_stride[1] + kv_head * k_stride[2];
  }
  int64_t page_id(int64_t seq, int64_t page) const {
    return block_table[seq * block_table_stride[0] + page * block_table_stride[1]];
  }

  // Writes a row's final result: out = o * o_scale converted to the output dtype, and its lse.
  // o == nullptr writes zeros (the row saw no key).
  void store_final(int64_t seq, int kv_head, int row, const float* o, float o_scale,
                   float row_lse) const {
    const int token = token_of_row(row);
    const int head = head_of_row(kv_head, row);
    uint16_t* dst = out + ((seq * shape.s_q + token) * shape.h_q + head) * kHeadDimV;
    for (int c = 0; c < kHeadDimV; ++c) dst[c] = from_float(o ? o[c] * o_scale : 0.0f);
    lse[(seq * shape.h_q + head) * shape.s_q + token] = row_lse;
  }
};

}  // namespace cpu
}  // namespace flashmla
