// The two GPU ceilings of DESIGN.md section 6, measured in the same run as the kernels they judge:
// a large device-to-device copy (bytes read plus written) and a large bf16 cuBLAS GEMM on random
// data (zeros would let the tensor cores draw less power and run faster than real data allows).
#pragma once

#if defined(FLASHMLA_WITH_CUDA)

#include <cuda_runtime.h>

#include "flashmla/flashmla.h"
#include "roofline.h"

namespace bench {
namespace gpu {

// A 2 GiB copy and an 8192^3 GEMM (fp32 accumulation), median of 15 runs each after warm-up: a
// fraction of a second, so single-shape runs measure the same ceilings as the grid.
flashmla::Status measure_gpu_ceilings(cudaStream_t stream, Ceilings* ceilings);

}  // namespace gpu
}  // namespace bench

#endif  // FLASHMLA_WITH_CUDA
