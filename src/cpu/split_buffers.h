// Where split partial results live in the decode workspace (the same layout as the GPU's):
//   out partials: float [max_splits][h_kv][q_rows][512]
//   lse partials: float [max_splits][h_kv][q_rows], starting at the next 16-byte boundary
// with max_splits = b + num_sm_parts in a caller's workspace (see decode_workspace_size()); a
// buffer the backend allocates itself may hold just the splits the plan uses. A sequence's splits
// occupy slots num_splits[n] .. num_splits[n+1]-1.
#pragma once

#include <cstddef>
#include <cstdint>

#include "flashmla/constants.h"

namespace flashmla {
namespace cpu {

class SplitBuffers {
 public:
  SplitBuffers(void* workspace, int64_t max_splits, int q_rows, int h_kv)
      : q_rows_(q_rows), h_kv_(h_kv) {
    out_ = static_cast<float*>(workspace);
    lse_ = reinterpret_cast<float*>(static_cast<char*>(workspace) +
                                    lse_offset(max_splits, q_rows, h_kv));
  }

  // Bytes before the lse partials; bytes(...) is the whole buffer.
  static size_t lse_offset(int64_t max_splits, int q_rows, int h_kv) {
    return (rows(max_splits, q_rows, h_kv) * kHeadDimV * sizeof(float) + 15) / 16 * 16;
  }
  static size_t bytes(int64_t max_splits, int q_rows, int h_kv) {
    return lse_offset(max_splits, q_rows, h_kv) + rows(max_splits, q_rows, h_kv) * sizeof(float);
  }

  float* out(int64_t slot, int kv_head, int row) const {
    return out_ + index(slot, kv_head, row) * kHeadDimV;
  }
  float* lse(int64_t slot, int kv_head, int row) const { return lse_ + index(slot, kv_head, row); }

 private:
  static size_t rows(int64_t max_splits, int q_rows, int h_kv) {
    return static_cast<size_t>(max_splits) * static_cast<size_t>(h_kv) *
           static_cast<size_t>(q_rows);
  }

  size_t index(int64_t slot, int kv_head, int row) const {
    return (static_cast<size_t>(slot) * static_cast<size_t>(h_kv_) + static_cast<size_t>(kv_head)) *
               static_cast<size_t>(q_rows_) +
           static_cast<size_t>(row);
  }

  int q_rows_;
  int h_kv_;
  float* out_;
  float* lse_;
};

}  // namespace cpu
}  // namespace flashmla
