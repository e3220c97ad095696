// Definition of launch_narrow, included by the per-type translation units.
#pragma once

#include "sm90/cuda_check.h"
#include "sm90/narrow_kernel.cuh"
#include "sm90/narrow_launch.h"

namespace flashmla {
namespace sm90 {

template <typename T, int kN, int kGroups>
Status launch_narrow_tile(const DecodeParams& params, const CUtensorMap& k_map, int num_sm_parts,
                          cudaStream_t stream) {
  auto kernel = mla_narrow_kernel<T, kN, kGroups>;
  constexpr int kSmem = narrow::Layout<kN, kGroups>::kSmemBytes;
  constexpr int kBlockRows = kN * kGroups;
  FLASHMLA_CUDA_RETURN(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
  const dim3 grid(num_sm_parts, params.h_kv, (params.q_rows + kBlockRows - 1) / kBlockRows);
  kernel<<<grid, narrow::threads(kGroups), kSmem, stream>>>(params, k_map);
  FLASHMLA_CHECK_LAUNCH("mla_narrow_kernel launch");
  return Status::Ok();
}

template <typename T>
Status launch_narrow(const DecodeParams& params, const CUtensorMap& k_map, int num_sm_parts, cudaStream_t stream) {
  if (params.q_rows <= 16) return launch_narrow_tile<T, 16, 1>(params, k_map, num_sm_parts, stream);
  if (params.q_rows <= 32) return launch_narrow_tile<T, 32, 1>(params, k_map, num_sm_parts, stream);
  return launch_narrow_tile<T, 32, 2>(params, k_map, num_sm_parts, stream);
}

}  // namespace sm90
}  // namespace flashmla
