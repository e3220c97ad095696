// Launcher of the seesaw decode kernel (seesaw_kernel.cuh), instantiated per element type in its
// own translation unit (seesaw_bf16.cu, seesaw_fp16.cu) to keep compile times down.
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include "flashmla/status.h"
#include "sm90/decode_params.h"

namespace flashmla {
namespace sm90 {

// The order of each math warpgroup's steps around its own pages (seesaw_kernel.cuh, run_math).
// kAuto is resolved by the launcher (resolve_schedule) and never reaches a kernel.
enum class SeesawSchedule { kAuto, kOtherPageFirst, kOwnPageFirst, kSoftmaxFirst };

// How the seesaw kernel runs; the defaults are the measured best (bench/NOTES.md), the fields are
// set from the environment only for comparisons (decode.cu).
struct SeesawOptions {
  // kAuto (default): resolve_schedule picks by the number of row tiles and the device's bandwidth.
  SeesawSchedule schedule = SeesawSchedule::kAuto;
  // The largest group of row tiles (of one kv head) that runs as a cluster sharing each page's
  // loads: 0 (default) for pairs where a kv head has exactly two row tiles and the batch has at
  // least kMinBatchForClusters sequences; 2 for pairs wherever the number of row tiles is even (for
  // comparisons and to test them on small batches); 1 for none. Pairs also need all of them to fit
  // on the GPU at once.
  int max_cluster = 0;
  // Whether the producer prefetches pages into L2 (DecodeParams::l2_prefetch): 1 on, 0 off, -1
  // (default) on where one block or one cluster covers all the row tiles of a kv head (each page
  // is then prefetched once) and the schedule is not softmax-first; with more row tiles, and with
  // softmax-first on one row tile, it measured slower.
  int l2_prefetch = -1;
  // The device's peak DRAM bandwidth per SM in GB/s (device_peak_gbs_per_sm; 0: unknown), set by
  // decode.cu for each call: resolve_schedule depends on it.
  double peak_gbs_per_sm = 0.0;
};

// Per-SM bandwidth from which one-tile rows keep other-page-first with the L2 prefetch: on the
// H100 (25.4 GB/s per SM) softmax-first without it measured 2-5% faster on those rows, on the H200
// (37.3) 6-8% slower on the fixed-length ones (bench/NOTES.md step 15).
constexpr double kSoftmaxFirstMaxGbsPerSm = 30.0;

// kAuto: other-page-first (step 8) where a kv head has two or more row tiles; with one row tile
// softmax-first where the bandwidth per SM is below kSoftmaxFirstMaxGbsPerSm or unknown.
inline SeesawSchedule resolve_schedule(const SeesawOptions& options, int q_rows, int rows_per_tile) {
  if (options.schedule != SeesawSchedule::kAuto) return options.schedule;
  const bool one_tile = q_rows <= rows_per_tile;
  const bool bandwidth_rich = options.peak_gbs_per_sm >= kSoftmaxFirstMaxGbsPerSm;
  return one_tile && !bandwidth_rich ? SeesawSchedule::kSoftmaxFirst : SeesawSchedule::kOtherPageFirst;
}

// Below this batch size the blocks have few pages each, and a cluster's fixed costs (its launch,
// two cluster barriers) measured more than it saves (b = 1: 19.7 -> 21.1 us at s_k = 4096).
constexpr int64_t kMinBatchForClusters = 16;

// T: __nv_bfloat16 or __half. Launches only the decode; the caller launches the combine. q_map:
// the Q tile tensor map (make_q_tile_tensor_map), or nullptr to load Q with cp.async.
template <typename T>
Status launch_seesaw(const DecodeParams& params, const CUtensorMap& k_map, const CUtensorMap* q_map,
                     int num_sm_parts, const SeesawOptions& options, cudaStream_t stream);

}  // namespace sm90
}  // namespace flashmla
