// sm90::decode: turns a validated call into kernel parameters and launches on the caller's stream.
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "sm90/cuda_check.h"
#include "sm90/decode_launch.h"
#include "sm90/sm90_backend.h"
#include "sm90/tensor_map.h"

namespace flashmla {
namespace sm90 {

namespace {

// Workspace layout (see decode_workspace_size): partial outputs, then partial lse.
void split_workspace(const DecodeArgs& args, const DecodeShape& shape, DecodeParams* params) {
  const size_t max_splits = static_cast<size_t>(shape.batch) + static_cast<size_t>(shape.num_sm_parts);
  const size_t rows = max_splits * static_cast<size_t>(shape.h_kv) * static_cast<size_t>(shape.q_rows);
  params->o_accum = static_cast<float*>(args.workspace);
  params->lse_accum = params->o_accum + rows * kHeadDimV;
}

// The kernel choice and tuning knobs, read once per process from the environment, for comparisons
// (bench/NOTES.md). FLASHMLA_DECODE_KERNEL: "seesaw" (on every shape), "wgmma" (the first
// warpgroup-MMA kernel for 64-row tiles), "mma" (mma.sync everywhere), "narrow" (the narrow
// kernel for every shape of up to 64 rows per kv head); unset, empty or "auto": the default. The
// seesaw kernel's SeesawOptions: FLASHMLA_SEESAW_SCHEDULE "own-first", "other-first" or
// "softmax-first" (seesaw_kernel.cuh); FLASHMLA_SEESAW_CLUSTER "1" or "2" (max_cluster);
// FLASHMLA_L2_PREFETCH "1" or "0". FLASHMLA_Q_TMA "0" or "1": the seesaw kernel loads Q with
// cp.async always, or with TMA wherever the shape allows and no row-tile pairs run
// (KernelTuning::q_tma). Unset or unrecognised values keep the defaults.
KernelTuning kernel_tuning() {
  static const KernelTuning tuning = [] {
    KernelTuning t;
    if (const char* v = std::getenv("FLASHMLA_DECODE_KERNEL")) {
      if (std::strcmp(v, "seesaw") == 0) t.choice = KernelChoice::kSeesawAll;
      if (std::strcmp(v, "wgmma") == 0) t.choice = KernelChoice::kWgmma;
      if (std::strcmp(v, "mma") == 0) t.choice = KernelChoice::kMma;
      if (std::strcmp(v, "narrow") == 0) t.choice = KernelChoice::kNarrow;
    }
    SeesawOptions& o = t.seesaw;
    if (const char* v = std::getenv("FLASHMLA_SEESAW_SCHEDULE")) {
      if (std::strcmp(v, "own-first") == 0) o.schedule = SeesawSchedule::kOwnPageFirst;
      if (std::strcmp(v, "other-first") == 0) o.schedule = SeesawSchedule::kOtherPageFirst;
      if (std::strcmp(v, "softmax-first") == 0) o.schedule = SeesawSchedule::kSoftmaxFirst;
    }
    if (const char* v = std::getenv("FLASHMLA_SEESAW_CLUSTER")) {
      if (std::strcmp(v, "1") == 0) o.max_cluster = 1;
      if (std::strcmp(v, "2") == 0) o.max_cluster = 2;
    }
    if (const char* v = std::getenv("FLASHMLA_L2_PREFETCH")) {
      if (std::strcmp(v, "0") == 0) o.l2_prefetch = 0;
      if (std::strcmp(v, "1") == 0) o.l2_prefetch = 1;
    }
    if (const char* v = std::getenv("FLASHMLA_Q_TMA")) {
      if (std::strcmp(v, "0") == 0) t.q_tma = 0;
      if (std::strcmp(v, "1") == 0) t.q_tma = 1;
    }
    return t;
  }();
  return tuning;
}

}  // namespace

Status decode(const DecodeArgs& args, const DecodeShape& shape) {
  DeviceGuard guard(args.q.device.index);
  FLASHMLA_CUDA_RETURN(guard.error());
  DecodeParams params{};
  params.q = args.q.data;
  params.q_stride_batch = args.q.stride[0];
  params.q_stride_token = args.q.stride[1];
  params.q_stride_head = args.q.stride[2];
  params.k_cache = args.k_cache.data;
  params.k_stride_page = args.k_cache.stride[0];
  params.k_stride_token = args.k_cache.stride[1];
  params.k_stride_head = args.k_cache.stride[2];
  params.block_table = static_cast<const int32_t*>(args.block_table.data);
  params.block_table_stride = args.block_table.stride[0];
  params.seqlens = static_cast<const int32_t*>(args.cache_seqlens.data);
  params.metadata = static_cast<const int32_t*>(args.tile_scheduler_metadata.data);
  params.num_splits = static_cast<const int32_t*>(args.num_splits.data);
  params.out = args.out.data;
  params.lse = static_cast<float*>(args.lse.data);
  split_workspace(args, shape, &params);
  params.batch = shape.batch;
  params.s_q = shape.s_q;
  params.h_q = shape.h_q;
  params.h_kv = shape.h_kv;
  params.ngroups = shape.ngroups;
  params.q_rows = shape.q_rows;
  params.scale_log2 = shape.softmax_scale * static_cast<float>(M_LOG2E);
  params.causal = shape.causal;

  cudaStream_t stream = static_cast<cudaStream_t>(args.stream);
  KernelTuning tuning = kernel_tuning();
  tuning.seesaw.peak_gbs_per_sm = device_peak_gbs_per_sm(args.q.device.index);
  int sm_count = 0;
  if (device_sm_count(args.q.device.index, &sm_count).ok() && sm_count > 0) tuning.sm_count = sm_count;
  params.l2_prefetch = false;  // the seesaw launcher decides (SeesawOptions::l2_prefetch)
  // The TMA descriptor is encoded on the host only for calls that run the seesaw or narrow kernel.
  CUtensorMap k_map;
  const double gbs = tuning.seesaw.peak_gbs_per_sm;
  const bool uses_tma = wants_seesaw(tuning.choice, shape.q_rows, gbs) || wants_narrow(tuning.choice, shape.q_rows, gbs);
  const bool have_map = uses_tma && make_k_cache_tensor_map(args.k_cache, &k_map);
  const CUtensorMap* k_map_ptr = have_map ? &k_map : nullptr;
  // The seesaw kernel's Q tiles by TMA where wanted and the shape's tiles are boxes (tensor_map.h).
  CUtensorMap q_map;
  const bool have_q_map = have_map && wants_q_tma(tuning.q_tma, shape.batch) &&
                          wants_seesaw(tuning.choice, shape.q_rows, gbs) &&
                          make_q_tile_tensor_map(args.q, shape.ngroups, &q_map);
  const CUtensorMap* q_map_ptr = have_q_map ? &q_map : nullptr;
  if (shape.dtype == DType::kBFloat16)
    return launch_decode_bf16(params, k_map_ptr, q_map_ptr, shape.num_sm_parts, tuning, stream);
  return launch_decode_fp16(params, k_map_ptr, q_map_ptr, shape.num_sm_parts, tuning, stream);
}

}  // namespace sm90
}  // namespace flashmla
