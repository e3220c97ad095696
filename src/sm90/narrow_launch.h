// Launcher of the narrow decode kernel (narrow_kernel.cuh), instantiated per element
// type in its own translation unit (narrow_bf16.cu, narrow_fp16.cu).
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include "flashmla/status.h"
#include "sm90/decode_params.h"

namespace flashmla {
namespace sm90 {

// Query rows per kv head the narrow kernel serves: blocks of 16 or 32 rows (one math warpgroup)
// or of 64 (two warpgroups of 32 sharing each page's loads).
constexpr int kNarrowMaxRows = 64;

// T: __nv_bfloat16 or __half; params.q_rows <= kNarrowMaxRows. Launches only the decode; the
// caller launches the combine.
template <typename T>
Status launch_narrow(const DecodeParams& params, const CUtensorMap& k_map, int num_sm_parts, cudaStream_t stream);

}  // namespace sm90
}  // namespace flashmla
