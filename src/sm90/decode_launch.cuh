// Chooses the decode kernel and row tile for the shape and launches it, then the combine kernel.
#pragma once

#include "sm90/combine_kernel.cuh"
#include "sm90/cuda_check.h"
#include "sm90/decode_kernel.cuh"
#include "sm90/decode_launch.h"
#include "sm90/narrow_launch.h"
#include "sm90/seesaw_launch.h"

namespace flashmla {
namespace sm90 {

template <typename T, int kRowGroups, bool kWgmma = false>
Status launch_decode_tile(const DecodeParams& params, int num_sm_parts, cudaStream_t stream) {
  using Tile = DecodeTile<kRowGroups>;
  auto kernel = mla_decode_kernel<T, kRowGroups, kWgmma>;
  FLASHMLA_CUDA_RETURN(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Tile::kSmemBytes));
  const int row_blocks = (params.q_rows + Tile::kRows - 1) / Tile::kRows;
  const dim3 grid(num_sm_parts, params.h_kv, row_blocks);
  kernel<<<grid, kDecodeThreads, Tile::kSmemBytes, stream>>>(params);
  FLASHMLA_CHECK_LAUNCH("mla_decode_kernel launch");
  return Status::Ok();
}

template <typename T>
Status launch_decode(const DecodeParams& params, const CUtensorMap* k_map, const CUtensorMap* q_map,
                     int num_sm_parts, const KernelTuning& tuning, cudaStream_t stream) {
  Status st;
  if (k_map != nullptr && wants_narrow(tuning.choice, params.q_rows, tuning.seesaw.peak_gbs_per_sm)) {
    st = launch_narrow<T>(params, *k_map, num_sm_parts, stream);
  } else if (k_map != nullptr && wants_seesaw(tuning.choice, params.q_rows, tuning.seesaw.peak_gbs_per_sm)) {
    st = launch_seesaw<T>(params, *k_map, q_map, num_sm_parts, tuning.seesaw, stream);
  } else if (params.q_rows <= 16) {
    // Without the TMA descriptor (or for a comparison choice): mma.sync row tiles of 16
    // or 32, as padding 16 rows to 64 would waste 3/4 of the tensor-core work.
    st = launch_decode_tile<T, 1>(params, num_sm_parts, stream);
  } else if (params.q_rows <= 32) {
    st = launch_decode_tile<T, 2>(params, num_sm_parts, stream);
  } else if (tuning.choice == KernelChoice::kMma) {
    st = launch_decode_tile<T, 4>(params, num_sm_parts, stream);
  } else {
    st = launch_decode_tile<T, 4, true>(params, num_sm_parts, stream);
  }
  if (!st.ok()) return st;
  // The combine is a programmatic dependent launch: its launch overlaps the decode's last blocks
  // instead of following the decode's completion (it waits in griddepcontrol.wait).
  cudaLaunchAttribute attr = {};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config = {};
  const int warps_per_row = combine_warps_per_row(params.batch, params.h_kv, params.q_rows, tuning.sm_count);
  const int rows_per_block = combine_rows_per_block(warps_per_row);
  config.gridDim = dim3(static_cast<unsigned>(params.batch), params.h_kv,
                        (params.q_rows + rows_per_block - 1) / rows_per_block * combine_column_parts(warps_per_row));
  config.blockDim = dim3(kCombineThreads, 1, 1);
  config.stream = stream;
  config.attrs = &attr;
  config.numAttrs = 1;
  auto combine = warps_per_row == 1 ? mla_combine_kernel<T, 1> : mla_combine_kernel<T, kCombineWarps>;
  FLASHMLA_CUDA_RETURN(cudaLaunchKernelEx(&config, combine, params));
  FLASHMLA_CHECK_LAUNCH("mla_combine_kernel launch");
  return Status::Ok();
}

}  // namespace sm90
}  // namespace flashmla
