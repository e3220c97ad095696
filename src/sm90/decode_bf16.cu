// Decode kernels for bfloat16 queries and caches.
#include "sm90/decode_launch.cuh"

namespace flashmla {
namespace sm90 {

Status launch_decode_bf16(const DecodeParams& params, const CUtensorMap* k_map, const CUtensorMap* q_map,
                          int num_sm_parts, const KernelTuning& tuning, cudaStream_t stream) {
  return launch_decode<__nv_bfloat16>(params, k_map, q_map, num_sm_parts, tuning, stream);
}

}  // namespace sm90
}  // namespace flashmla
