// Definition of launch_seesaw, included by the per-type translation units.
#pragma once

#include "sm90/cuda_check.h"
#include "sm90/seesaw_kernel.cuh"
#include "sm90/seesaw_launch.h"

#include <mutex>

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

// The launch configuration of seesaw blocks in clusters of `cluster` blocks along z. Not copyable:
// config points at attr.
struct ClusterLaunch {
  cudaLaunchAttribute attr = {};
  cudaLaunchConfig_t config = {};

  ClusterLaunch(const dim3& grid, int cluster, cudaStream_t stream) {
    attr.id = cudaLaunchAttributeClusterDimension;
    attr.val.clusterDim.x = 1;
    attr.val.clusterDim.y = 1;
    attr.val.clusterDim.z = static_cast<unsigned>(cluster);
    config.gridDim = grid;
    config.blockDim = dim3(seesaw::kThreads, 1, 1);
    config.dynamicSmemBytes = seesaw::kSmemBytes;
    config.stream = stream;
    config.attrs = &attr;
    config.numAttrs = 1;
  }
  ClusterLaunch(const ClusterLaunch&) = delete;
  ClusterLaunch& operator=(const ClusterLaunch&) = delete;
};

// The most clusters of kCluster seesaw blocks (one block per SM) the device runs at once: a
// cluster must fit inside one GPC. Queried once per device and cluster size; 0 if the query fails.
template <int kCluster, typename Kernel>
int max_active_clusters(Kernel kernel, cudaStream_t stream) {
  constexpr int kMaxDevices = 64;
  static std::once_flag once[kMaxDevices];
  static int count[kMaxDevices];
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= kMaxDevices) return 0;
  std::call_once(once[device], [&] {
    const ClusterLaunch launch(dim3(1, 1, kCluster), kCluster, stream);
    int n = 0;
    if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, seesaw::kSmemBytes) !=
            cudaSuccess ||
        cudaOccupancyMaxActiveClusters(&n, kernel, &launch.config) != cudaSuccess) {
      (void)cudaGetLastError();  // not fatal: no clusters of this size on this device
      n = 0;
    }
    count[device] = n;
  });
  return count[device];
}

// Whether `grid` can run as clusters of kCluster blocks along z, all resident at once.
template <int kCluster, typename Kernel>
bool clusters_fit(Kernel kernel, const dim3& grid, cudaStream_t stream) {
  if (grid.z % kCluster != 0) return false;
  const int64_t clusters = static_cast<int64_t>(grid.x) * grid.y * grid.z / kCluster;
  return clusters <= max_active_clusters<kCluster>(kernel, stream);
}

// kQTma: Q by TMA with q_map (non-null); otherwise q_map is not read.
template <typename T, SeesawSchedule kSchedule, int kCluster, bool kQTma>
Status launch_seesaw_cluster(DecodeParams params, const CUtensorMap& k_map, const CUtensorMap* q_map,
                             const dim3& grid, const SeesawOptions& options, cudaStream_t stream) {
  static_assert(!kQTma || kCluster == 1, "Q by TMA is instantiated for single blocks only");
  auto kernel = mla_seesaw_kernel<T, kSchedule, kCluster, kQTma>;
  params.l2_prefetch = options.l2_prefetch >= 0 ? options.l2_prefetch == 1
                                                : grid.z == kCluster && kSchedule != SeesawSchedule::kSoftmaxFirst;
  const CUtensorMap& q_map_arg = kQTma ? *q_map : k_map;  // not read without kQTma
  FLASHMLA_CUDA_RETURN(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, seesaw::kSmemBytes));
  if constexpr (kCluster == 1) {
    kernel<<<grid, seesaw::kThreads, seesaw::kSmemBytes, stream>>>(params, k_map, q_map_arg);
  } else {
    const ClusterLaunch launch(grid, kCluster, stream);
    FLASHMLA_CUDA_RETURN(cudaLaunchKernelEx(&launch.config, kernel, params, k_map, q_map_arg));
  }
  FLASHMLA_CHECK_LAUNCH("mla_seesaw_kernel launch");
#ifdef FLASHMLA_SEESAW_TRACE
  write_seesaw_trace();
#endif
  return Status::Ok();
}

// Pairs where `options` and the batch allow them, the kv head has exactly two row tiles and all
// pairs fit. With four or more row tiles pairs measured 2-5% slower than single blocks (each page
// is then loaded by two pairs, and the prefetch that pays for the pairs' lockstep is off).
template <typename T, SeesawSchedule kSchedule>
Status launch_seesaw_schedule(const DecodeParams& params, const CUtensorMap& k_map, const CUtensorMap* q_map,
                              int num_sm_parts, const SeesawOptions& options, cudaStream_t stream) {
  const int row_blocks = (params.q_rows + seesaw::kRows - 1) / seesaw::kRows;
  const dim3 grid(num_sm_parts, params.h_kv, row_blocks);
  const int max_cluster =
      options.max_cluster > 0 ? options.max_cluster : (params.batch >= kMinBatchForClusters ? 2 : 1);
  if (max_cluster >= 2 && (grid.z == 2 || options.max_cluster == 2) &&
      clusters_fit<2>(mla_seesaw_kernel<T, kSchedule, 2, false>, grid, stream))
    return launch_seesaw_cluster<T, kSchedule, 2, false>(params, k_map, nullptr, grid, options, stream);
  if (q_map != nullptr) return launch_seesaw_cluster<T, kSchedule, 1, true>(params, k_map, q_map, grid, options, stream);
  return launch_seesaw_cluster<T, kSchedule, 1, false>(params, k_map, nullptr, grid, options, stream);
}

template <typename T>
Status launch_seesaw(const DecodeParams& params, const CUtensorMap& k_map, const CUtensorMap* q_map,
                     int num_sm_parts, const SeesawOptions& options, cudaStream_t stream) {
  switch (resolve_schedule(options, params.q_rows, seesaw::kRows)) {
    case SeesawSchedule::kOwnPageFirst:
      return launch_seesaw_schedule<T, SeesawSchedule::kOwnPageFirst>(params, k_map, q_map, num_sm_parts, options,
                                                                      stream);
    case SeesawSchedule::kSoftmaxFirst:
      return launch_seesaw_schedule<T, SeesawSchedule::kSoftmaxFirst>(params, k_map, q_map, num_sm_parts, options,
                                                                      stream);
    default:
      return launch_seesaw_schedule<T, SeesawSchedule::kOtherPageFirst>(params, k_map, q_map, num_sm_parts, options,
                                                                        stream);
  }
}

}  // namespace sm90
}  // namespace flashmla
