// Launchers of the decode + combine kernels, one per element type, each in its own translation
// unit (decode_bf16.cu, decode_fp16.cu) to keep compile times down.
#pragma once

#include <cuda_runtime.h>

#include "flashmla/status.h"
#include "sm90/decode_params.h"

namespace flashmla {
namespace sm90 {

// experimental_wgmma selects the warpgroup-MMA variant for 64-row tiles (not yet verified on a GPU).
Status launch_decode_bf16(const DecodeParams& params, int num_sm_parts, bool experimental_wgmma,
                          cudaStream_t stream);
Status launch_decode_fp16(const DecodeParams& params, int num_sm_parts, bool experimental_wgmma,
                          cudaStream_t stream);

}  // namespace sm90
}  // namespace flashmla
