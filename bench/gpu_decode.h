// One configuration on the GPU: upload, plan, decode once in input-checking mode, time under the
// configuration's protocol, and check both the first and the last result against the CPU backend.
#pragma once

#if defined(FLASHMLA_WITH_CUDA)

#include <cuda_runtime.h>

#include "accuracy.h"
#include "flashmla/flashmla.h"
#include "grid.h"
#include "problem.h"

namespace bench {
namespace gpu {

struct GpuRunOptions {
  TimingMode timing = TimingMode::kPlain;
  int warmup = 3;  // untimed launches (graph replays) first
  int iters = 20;  // timed launches (graph replays); the median is reported
  bool check = true;
};

struct GpuRunResult {
  double decode_s = 0.0;    // median time of one decode call
  double metadata_s = 0.0;  // median time of one get_mla_metadata call
  int num_sm_parts = 0;
  int cache_copies = 1;  // caches the calls rotate over (graph protocol)
  ErrorReport errors;
};

flashmla::Status run_gpu_problem(const HostProblem& p, const GpuRunOptions& opts,
                                 cudaStream_t stream, GpuRunResult* result);

}  // namespace gpu
}  // namespace bench

#endif  // FLASHMLA_WITH_CUDA
