// Definition of launch_seesaw, included by the per-type translation units.
#pragma once

#include "sm90/cuda_check.h"
#include "sm90/seesaw_kernel.cuh"
#include "sm90/seesaw_launch.h"

namespace flashmla {
namespace sm90 {

template <typename T>
Status launch_seesaw(const DecodeParams& params, const CUtensorMap& k_map, int num_sm_parts,
                     cudaStream_t stream) {
  auto kernel = mla_seesaw_kernel<T>;
  FLASHMLA_CUDA_RETURN(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, seesaw::kSmemBytes));
  const int row_blocks = (params.q_rows + seesaw::kRows - 1) / seesaw::kRows;
  const dim3 grid(num_sm_parts, params.h_kv, row_blocks);
  kernel<<<grid, seesaw::kThreads, seesaw::kSmemBytes, stream>>>(params, k_map);
  FLASHMLA_CHECK_LAUNCH("mla_seesaw_kernel launch");
  return Status::Ok();
}

}  // namespace sm90
}  // namespace flashmla
