// Decode kernels for float16 queries and caches.
#include "sm90/decode_launch.cuh"

namespace flashmla {
namespace sm90 {

Status launch_decode_fp16(const DecodeParams& params, const CUtensorMap* k_map, const CUtensorMap* q_map,
                          int num_sm_parts, const KernelTuning& tuning, cudaStream_t stream) {
  return launch_decode<__half>(params, k_map, q_map, num_sm_parts, tuning, stream);
}

}  // namespace sm90
}  // namespace flashmla
