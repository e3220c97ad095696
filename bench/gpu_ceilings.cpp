#include "gpu_ceilings.h"

#if defined(FLASHMLA_WITH_CUDA)

#include <cublas_v2.h>

#include <cstdint>
#include <vector>

#include "gpu_util.h"
#include "problem.h"

namespace bench {
namespace gpu {

namespace {

constexpr size_t kCopyBytes = size_t{2} << 30;
constexpr int kGemmSize = 8192;
constexpr int kWarmupRuns = 3;
constexpr int kTimedRuns = 15;
constexpr uint64_t kGemmSeed = 7;

flashmla::Status measure_copy(cudaStream_t stream, size_t bytes, int runs, double* bytes_per_s) {
  DeviceBuffer src, dst;
  BENCH_RETURN_IF_ERROR(src.allocate(bytes, "copy ceiling source"));
  BENCH_RETURN_IF_ERROR(dst.allocate(bytes, "copy ceiling destination"));
  BENCH_CUDA(cudaMemsetAsync(src.get(), 0x3c, bytes, stream));
  for (int i = 0; i < kWarmupRuns; ++i)
    BENCH_CUDA(cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice, stream));
  EventTimer timer;
  BENCH_RETURN_IF_ERROR(timer.create(runs));
  for (int i = 0; i < runs; ++i) {
    BENCH_RETURN_IF_ERROR(timer.start(i, stream));
    BENCH_CUDA(cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice, stream));
    BENCH_RETURN_IF_ERROR(timer.stop(i, stream));
  }
  std::vector<double> times;
  BENCH_RETURN_IF_ERROR(timer.elapsed_s(&times));
  *bytes_per_s = 2.0 * static_cast<double>(bytes) / median(times);
  return flashmla::Status::Ok();
}

flashmla::Status measure_gemm(cudaStream_t stream, int n, int runs, double* flops_per_s) {
  const size_t elems = static_cast<size_t>(n) * n;
  HostArray<uint16_t> host;
  host.allocate(static_cast<int64_t>(elems));
  DeviceBuffer a, b, c;
  BENCH_RETURN_IF_ERROR(a.allocate(elems * 2, "GEMM ceiling A"));
  BENCH_RETURN_IF_ERROR(b.allocate(elems * 2, "GEMM ceiling B"));
  BENCH_RETURN_IF_ERROR(c.allocate(elems * 2, "GEMM ceiling C"));
  fill_random_half(host.get(), host.size, flashmla::DType::kBFloat16, kGemmSeed);
  BENCH_CUDA(cudaMemcpy(a.get(), host.get(), elems * 2, cudaMemcpyHostToDevice));
  fill_random_half(host.get(), host.size, flashmla::DType::kBFloat16, kGemmSeed + 1);
  BENCH_CUDA(cudaMemcpy(b.get(), host.get(), elems * 2, cudaMemcpyHostToDevice));

  CublasHandle handle;
  BENCH_RETURN_IF_ERROR(handle.create(stream));
  const float alpha = 1.0f;
  const float beta = 0.0f;
  auto gemm = [&]() -> flashmla::Status {
    BENCH_CUBLAS(cublasGemmEx(handle.get(), CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, a.get(),
                              CUDA_R_16BF, n, b.get(), CUDA_R_16BF, n, &beta, c.get(), CUDA_R_16BF,
                              n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return flashmla::Status::Ok();
  };
  for (int i = 0; i < kWarmupRuns; ++i) BENCH_RETURN_IF_ERROR(gemm());
  EventTimer timer;
  BENCH_RETURN_IF_ERROR(timer.create(runs));
  for (int i = 0; i < runs; ++i) {
    BENCH_RETURN_IF_ERROR(timer.start(i, stream));
    BENCH_RETURN_IF_ERROR(gemm());
    BENCH_RETURN_IF_ERROR(timer.stop(i, stream));
  }
  std::vector<double> times;
  BENCH_RETURN_IF_ERROR(timer.elapsed_s(&times));
  *flops_per_s = 2.0 * static_cast<double>(n) * n * n / median(times);
  return flashmla::Status::Ok();
}

}  // namespace

flashmla::Status measure_gpu_ceilings(cudaStream_t stream, Ceilings* ceilings) {
  BENCH_RETURN_IF_ERROR(measure_copy(stream, kCopyBytes, kTimedRuns, &ceilings->copy_bytes_per_s));
  BENCH_RETURN_IF_ERROR(measure_gemm(stream, kGemmSize, kTimedRuns, &ceilings->flops_per_s));
  return flashmla::Status::Ok();
}

}  // namespace gpu
}  // namespace bench

#endif  // FLASHMLA_WITH_CUDA
