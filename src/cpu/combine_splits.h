// The CPU combine pass: merges the split partial results of one sequence with log-sum-exp weights
// and writes its final out and lse.
#pragma once

#include <cstdint>

#include "cpu/decode_inputs.h"

namespace flashmla {
namespace cpu {

// Combines every kv head and row of sequence `seq`, which must have more than one split.
// `weights` is scratch room for one weight per split of the sequence.
void combine_splits(const DecodeInputs& in, int64_t seq, float* weights);

}  // namespace cpu
}  // namespace flashmla
