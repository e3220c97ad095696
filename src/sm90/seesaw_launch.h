// Launcher of the seesaw decode kernel (seesaw_kernel.cuh), instantiated per element type in its
// own translation unit (seesaw_bf16.cu, seesaw_fp16.cu) to keep compile times down.
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include "flashmla/status.h"
#include "sm90/decode_params.h"

namespace flashmla {
namespace sm90 {

// The order of each math warpgroup's steps around its own pages (seesaw_kernel.cuh, run_math).
enum class SeesawSchedule { kOtherPageFirst, kOwnPageFirst, kSoftmaxFirst };

// T: __nv_bfloat16 or __half. Launches only the decode; the caller launches the combine.
template <typename T>
Status launch_seesaw(const DecodeParams& params, const CUtensorMap& k_map, int num_sm_parts,
                     SeesawSchedule schedule, cudaStream_t stream);

}  // namespace sm90
}  // namespace flashmla
