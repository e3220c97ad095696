// Decode kernels for bfloat16 queries and caches.
#include "sm90/decode_launch.cuh"

namespace flashmla {
namespace sm90 {

Status launch_decode_bf16(const DecodeParams& params, int num_sm_parts, bool experimental_wgmma,
                          cudaStream_t stream) {
  return launch_decode<__nv_bfloat16>(params, num_sm_parts, experimental_wgmma, stream);
}

}  // namespace sm90
}  // namespace flashmla
