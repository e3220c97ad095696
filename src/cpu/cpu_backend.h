// The CPU backend: computes MLA decoding on the host following the scheduler's plan exactly
// (per-split partial results in float32, then the log-sum-exp combine), multithreaded over parts.
#pragma once

#include "core/decode_shape.h"
#include "flashmla/flashmla.h"

namespace flashmla {
namespace cpu {

// Host metadata: runs the host scheduler into args' outputs (already validated, on the CPU).
Status get_metadata(const MetadataArgs& args);

// Decodes (args validated, all tensors on the CPU). Uses args.workspace when non-null, else
// allocates its own scratch.
Status decode(const DecodeArgs& args, const DecodeShape& shape);

}  // namespace cpu
}  // namespace flashmla
