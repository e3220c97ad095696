// The seesaw decode kernel for float16 queries and caches.
#include "sm90/seesaw_launch.cuh"

namespace flashmla {
namespace sm90 {

template Status launch_seesaw<__half>(const DecodeParams& params, const CUtensorMap& k_map,
                                  const CUtensorMap* q_map, int num_sm_parts, const SeesawOptions& options,
                                  cudaStream_t stream);

}  // namespace sm90
}  // namespace flashmla
