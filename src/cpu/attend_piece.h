// The CPU mainloop: online softmax of every query row of one kv head over one piece of a sequence
// (a page range that the plan assigns to one part), in float32.
#pragma once

#include <cstdint>
#include <vector>

#include "cpu/decode_inputs.h"

namespace flashmla {
namespace cpu {

// One (sequence, kv head, page range) unit of the plan.
struct Piece {
  int64_t seq = 0;
  int kv_head = 0;
  int64_t page_begin = 0;
  int64_t page_end = 0;  // exclusive
  int64_t split = 0;     // split index within the sequence
};

// Per-worker buffers, sized once for the call so the mainloop never allocates.
struct PieceScratch {
  explicit PieceScratch(int q_rows);
  std::vector<float> q;        // [q_rows][576]
  std::vector<float> k;        // [64][576], the current page
  std::vector<float> acc;      // [q_rows][512], unnormalised output
  std::vector<float> row_max;  // [q_rows]
  std::vector<float> row_sum;  // [q_rows]
  std::vector<float> p;        // [64], probabilities of one row on the current page
};

// Computes the piece and writes either the final result (sequence of one split) or the split's
// partial result into the workspace.
void attend_piece(const DecodeInputs& in, const Piece& piece, PieceScratch* scratch);

}  // namespace cpu
}  // namespace flashmla
