// An independent fp64 computation of single output rows, written straight from the definition in
// flashmla.h (no splits, no online softmax): the check of the CPU backend itself.
#pragma once

#include "accuracy.h"
#include "host_decode.h"
#include "problem.h"

namespace bench {

// Compares `got` (a full result of p) with the fp64 oracle on `rows` sampled (sequence, token,
// head) rows, always including the first and the last.
ErrorReport check_against_oracle(const HostProblem& p, const HostDecodeOutput& got, int rows);

}  // namespace bench
