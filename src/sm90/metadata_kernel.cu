// The metadata kernel: the host scheduler's plan (core/scheduler.h), computed on the GPU from
// cache_seqlens already there, so that a decode step needs no host synchronisation. One warp sums
// the costs and stages the page counts in shared memory; one thread walks the plan with the very
// code the host scheduler uses.
#include "core/scheduler.h"
#include "sm90/cuda_check.h"
#include "sm90/sm90_backend.h"

namespace flashmla {
namespace sm90 {

namespace {

// Sequences whose page counts are staged in shared memory (32 KB); longer batches read them from
// global memory in the walk.
constexpr int64_t kStagedSeqs = 8192;

__global__ void __launch_bounds__(32) mla_metadata_kernel(const int32_t* __restrict__ seqlens, int64_t batch,
                                                          int num_parts, int q_rows, int h_kv,
                                                          int32_t* metadata, int32_t* num_splits) {
  __shared__ int32_t staged_pages[kStagedSeqs];
  const int lane = threadIdx.x;
  const bool staged = batch <= kStagedSeqs;
  int64_t cost = 0;
  for (int64_t i = lane; i < batch; i += 32) {
    const int64_t pages = scheduler::pages_of(seqlens[i]);
    if (staged) staged_pages[i] = static_cast<int32_t>(pages);
    cost += pages + kFixedOverheadPages;
  }
#pragma unroll
  for (int d = 16; d > 0; d /= 2) cost += __shfl_xor_sync(0xffffffffu, cost, d);
  __syncwarp();
  if (lane != 0) return;

  // The walk is serial: every read in it is a dependent load, so it reads shared memory (and the
  // prefix sums stay in a register) rather than waiting on global memory each step.
  const int64_t payload = scheduler::payload_of(cost, num_parts);
  int32_t running = 0;  // prefix sum of split counts; walk_plan emits sequences in order, each once
  num_splits[0] = 0;
  scheduler::walk_plan(
      batch, num_parts, payload,
      [&](int64_t i) { return staged ? static_cast<int64_t>(staged_pages[i]) : scheduler::pages_of(seqlens[i]); },
      [&](int p, const int64_t* row) {
        int32_t* out = metadata + static_cast<int64_t>(p) * kMetadataFields;
        for (int f = 0; f < 5; ++f) out[f] = static_cast<int32_t>(row[f]);
        out[scheduler::kStampBatch] = static_cast<int32_t>(batch);
        out[scheduler::kStampRows] = q_rows;
        out[scheduler::kStampHeadsKV] = h_kv;
      },
      [&](int64_t i, int64_t n) {
        running += static_cast<int32_t>(n);
        num_splits[i + 1] = running;
      });
}

}  // namespace

Status get_metadata(const MetadataArgs& args) {
  DeviceGuard guard(args.cache_seqlens.device.index);
  FLASHMLA_CUDA_RETURN(guard.error());
  cudaStream_t stream = static_cast<cudaStream_t>(args.stream);
  mla_metadata_kernel<<<1, 32, 0, stream>>>(
      static_cast<const int32_t*>(args.cache_seqlens.data), args.cache_seqlens.shape[0],
      static_cast<int>(args.tile_scheduler_metadata.shape[0]), args.q_rows_per_kv_head, args.h_kv,
      static_cast<int32_t*>(args.tile_scheduler_metadata.data),
      static_cast<int32_t*>(args.num_splits.data));
  FLASHMLA_CHECK_LAUNCH("mla_metadata_kernel launch");
  return Status::Ok();
}

}  // namespace sm90
}  // namespace flashmla
