// Helpers of the GPU tests: device buffers, the "no Hopper GPU here" skip, random data made on the
// GPU (large caches would take minutes to fill on the host), and a runner of the public API on CUDA
// tensors with poisoned outputs.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "flashmla/flashmla.h"
#include "test_support.h"

namespace flashmla {
namespace test {

#define CUDA_OK(expr)                                                                   \
  do {                                                                                  \
    const cudaError_t _e = (expr);                                                      \
    ASSERT_EQ(_e, cudaSuccess) << #expr << ": " << cudaGetErrorString(_e);              \
  } while (0)

// Why the GPU tests cannot run here, or "" when a Hopper GPU is present.
std::string gpu_skip_reason();

#define REQUIRE_HOPPER()                                            \
  do {                                                              \
    const std::string _why = ::flashmla::test::gpu_skip_reason();   \
    if (!_why.empty()) GTEST_SKIP() << _why;                        \
  } while (0)

// Owning device allocation.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes) { resize(bytes); }
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void resize(size_t bytes) {
    cudaFree(ptr_);
    ptr_ = nullptr;
    bytes_ = bytes;
    if (bytes && cudaMalloc(&ptr_, bytes) != cudaSuccess) {
      ptr_ = nullptr;
      bytes_ = 0;
    }
  }
  void* get() const { return ptr_; }
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Fills n 16-bit values (bf16 or fp16 by dtype) with N(0, 1)-like values from a counter hash.
cudaError_t fill_random_half(void* data, int64_t n, DType dtype, uint64_t seed, cudaStream_t stream);
// Fills n 16-bit values with NaN.
cudaError_t fill_nan_half(void* data, int64_t n, DType dtype, cudaStream_t stream);
// For every sequence, overwrites the cache slots past its length in its last page (all kv heads)
// with NaN (poison = true) or restores them from the random hash (poison = false).
cudaError_t poison_tails(void* k_cache, DType dtype, int64_t page_stride, int h_kv,
                         const int32_t* d_seqlens, const int32_t* d_block_table, int64_t table_stride,
                         int64_t batch, uint64_t seed, bool poison, cudaStream_t stream);

struct GpuOutputs {
  Status status;
  std::vector<int32_t> metadata;
  std::vector<int32_t> num_splits;
  std::vector<uint16_t> out;
  std::vector<float> lse;
  int64_t unwritten_out = 0;  // NaN left in out (outputs are poisoned before the call)
  int64_t unwritten_lse = 0;
};

// Views of a problem already on the device (all tensors share `device`).
struct DeviceProblem {
  TensorView q, k_cache, block_table, seqlens;
  int64_t b = 0;
  int s_q = 0, h_q = 0, h_kv = 0;
  DType dtype = DType::kBFloat16;
  bool causal = false;
  float softmax_scale = 0.0f;
};

// A host problem (test_support.h) copied to a CUDA device, with views keeping its strides.
struct UploadedProblem {
  UploadedProblem(const DecodeProblem& host, int device_index = 0);
  DeviceBuffer q, k_cache, block_table, seqlens;
  DeviceProblem view;
};

// Runs get_mla_metadata + mla_decode_with_kvcache on `stream` with NaN-poisoned out/lse/workspace
// and copies everything back. With graph = true the decode is captured into a CUDA graph, and the
// graph is replayed `replays` times instead of launched directly.
GpuOutputs run_gpu(const DeviceProblem& p, cudaStream_t stream, bool graph = false, int replays = 1);

// Copies sequences `picks` (indices into p's batch, in that order) of a problem on the device into
// a host problem the CPU backend can run: their lengths, q rows and cache pages exactly as the GPU
// read them (NaN tails included), with a compact block table that numbers the pages in order of use
// (-1 past each sequence's pages) and the device views' strides within a page and a q row. Used to
// check a sample of a batch too large to recompute whole. Returns kCudaError on a failed copy.
Status extract_sequences(const DeviceProblem& p, const std::vector<int64_t>& picks,
                         DecodeProblem* sub);

// The parts of a GPU run's out and lse that belong to `picks`, in that order (the layout of a
// host run of extract_sequences()' problem).
void select_sequences(const GpuOutputs& gpu, const DeviceProblem& p,
                      const std::vector<int64_t>& picks, std::vector<uint16_t>* out,
                      std::vector<float>* lse);

struct SampleCheck {
  Status status;              // of the extraction or of the CPU run
  double out_err = 0.0;       // rel_error of out over the sampled sequences
  double lse_err = 0.0;       // lse_rel_error over the sampled sequences
  int64_t cpu_unwritten = 0;  // NaN left in the CPU backend's outputs (a reference bug)
  int64_t kv_tokens = 0;      // KV tokens the CPU recomputed
  double cpu_seconds = 0.0;   // wall time of the CPU reference run
};

// Recomputes sequences `picks` of a GPU run on the CPU backend (planned for `cpu_parts` parts) and
// compares them with the GPU's outputs.
SampleCheck check_sequences_on_cpu(const DeviceProblem& p, const GpuOutputs& gpu,
                                   const std::vector<int64_t>& picks, int cpu_parts);

}  // namespace test
}  // namespace flashmla
