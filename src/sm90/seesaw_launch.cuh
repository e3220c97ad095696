// Definition of launch_seesaw, included by the per-type translation units.
#pragma once

#include "sm90/cuda_check.h"
#include "sm90/seesaw_kernel.cuh"
#include "sm90/seesaw_launch.h"

#ifdef FLASHMLA_SEESAW_TRACE
#include <cstdio>
#include <cstdlib>
#include <vector>
#endif

namespace flashmla {
namespace sm90 {

#ifdef FLASHMLA_SEESAW_TRACE
// Trace builds only (seesaw_trace.cuh): waits for the launch and writes the recorded events, as
// uint32 counts [blocks][roles] then uint64 events [blocks][roles][capacity], to the file named by
// FLASHMLA_SEESAW_TRACE_FILE. Not usable under graph capture.
inline void write_seesaw_trace() {
  const char* path = std::getenv("FLASHMLA_SEESAW_TRACE_FILE");
  if (path == nullptr) return;
  using namespace seesaw;
  std::vector<uint32_t> counts(kTraceBlocks * kTraceRoles);
  std::vector<uint64_t> events(static_cast<size_t>(kTraceBlocks) * kTraceRoles * kTraceCapacity);
  if (cudaDeviceSynchronize() != cudaSuccess ||
      cudaMemcpyFromSymbol(counts.data(), g_trace_count, counts.size() * sizeof(uint32_t)) != cudaSuccess ||
      cudaMemcpyFromSymbol(events.data(), g_trace, events.size() * sizeof(uint64_t)) != cudaSuccess)
    return;
  if (FILE* f = std::fopen(path, "wb")) {
    std::fwrite(counts.data(), sizeof(uint32_t), counts.size(), f);
    std::fwrite(events.data(), sizeof(uint64_t), events.size(), f);
    std::fclose(f);
  }
}
#endif

template <typename T, SeesawSchedule kSchedule>
Status launch_seesaw_schedule(const DecodeParams& params, const CUtensorMap& k_map, int num_sm_parts,
                              cudaStream_t stream) {
  auto kernel = mla_seesaw_kernel<T, kSchedule>;
  FLASHMLA_CUDA_RETURN(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, seesaw::kSmemBytes));
  const int row_blocks = (params.q_rows + seesaw::kRows - 1) / seesaw::kRows;
  const dim3 grid(num_sm_parts, params.h_kv, row_blocks);
  kernel<<<grid, seesaw::kThreads, seesaw::kSmemBytes, stream>>>(params, k_map);
  FLASHMLA_CHECK_LAUNCH("mla_seesaw_kernel launch");
#ifdef FLASHMLA_SEESAW_TRACE
  write_seesaw_trace();
#endif
  return Status::Ok();
}

template <typename T>
Status launch_seesaw(const DecodeParams& params, const CUtensorMap& k_map, int num_sm_parts,
                     SeesawSchedule schedule, cudaStream_t stream) {
  switch (schedule) {
    case SeesawSchedule::kOwnPageFirst:
      return launch_seesaw_schedule<T, SeesawSchedule::kOwnPageFirst>(params, k_map, num_sm_parts, stream);
    case SeesawSchedule::kSoftmaxFirst:
      return launch_seesaw_schedule<T, SeesawSchedule::kSoftmaxFirst>(params, k_map, num_sm_parts, stream);
    default:
      return launch_seesaw_schedule<T, SeesawSchedule::kOtherPageFirst>(params, k_map, num_sm_parts, stream);
  }
}

}  // namespace sm90
}  // namespace flashmla
