// The narrow decode kernel for bfloat16 queries and caches.
#include "sm90/narrow_launch.cuh"

namespace flashmla {
namespace sm90 {

template Status launch_narrow<__nv_bfloat16>(const DecodeParams& params, const CUtensorMap& k_map, int num_sm_parts,
                                   cudaStream_t stream);

}  // namespace sm90
}  // namespace flashmla
