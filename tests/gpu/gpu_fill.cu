// Random and NaN fills for the GPU tests, done on the device.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "gpu/gpu_support.h"

namespace flashmla {
namespace test {

namespace {

__device__ uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// Sum of four uniforms, centred and scaled: close to N(0, 1), cheap and deterministic per index.
__device__ float normalish(uint64_t seed, int64_t i) {
  const uint64_t h1 = mix(seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(i));
  const uint64_t h2 = mix(h1 + 0x632be59bd9b4e019ULL);
  float s = 0.f;
  s += static_cast<float>(h1 & 0xffffffffu);
  s += static_cast<float>(h1 >> 32);
  s += static_cast<float>(h2 & 0xffffffffu);
  s += static_cast<float>(h2 >> 32);
  // Four U(0, 2^32): mean 2^33, variance 4 * 2^64 / 12.
  return (s - 8589934592.0f) / (4294967296.0f * 0.57735027f);
}

__device__ uint16_t to_bits(float v, bool bf16) {
  if (bf16) {
    __nv_bfloat16 h = __float2bfloat16_rn(v);
    return *reinterpret_cast<uint16_t*>(&h);
  }
  __half h = __float2half_rn(v);
  return *reinterpret_cast<uint16_t*>(&h);
}

__global__ void fill_random_kernel(uint16_t* data, int64_t n, bool bf16, uint64_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    data[i] = to_bits(normalish(seed, i), bf16);
}

__global__ void fill_const_kernel(uint16_t* data, int64_t n, uint16_t value) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    data[i] = value;
}

// One block per sequence: the slots [L % 64, 64) of its last page when L % 64 != 0.
__global__ void poison_tails_kernel(uint16_t* k_cache, bool bf16, int64_t page_stride, int h_kv,
                                    const int32_t* seqlens, const int32_t* block_table,
                                    int64_t table_stride, uint64_t seed, bool poison) {
  const int64_t seq = blockIdx.x;
  const int32_t len = seqlens[seq];
  if (len <= 0 || len % kPageSize == 0) return;
  const int64_t page = block_table[seq * table_stride + (len - 1) / kPageSize];
  const int first = len % kPageSize;
  const int64_t per_token = static_cast<int64_t>(h_kv) * kHeadDimK;
  const int64_t begin = page * page_stride + first * per_token;
  const int64_t end = page * page_stride + kPageSize * per_token;
  const uint16_t nan_bits = bf16 ? 0x7fc0 : 0x7e00;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
    k_cache[i] = poison ? nan_bits : to_bits(normalish(seed, i), bf16);
}

unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + 255) / 256;
  return static_cast<unsigned>(blocks < 65536 ? (blocks > 0 ? blocks : 1) : 65536);
}

}  // namespace

cudaError_t fill_random_half(void* data, int64_t n, DType dtype, uint64_t seed, cudaStream_t stream) {
  fill_random_kernel<<<grid_for(n), 256, 0, stream>>>(static_cast<uint16_t*>(data), n,
                                                      dtype == DType::kBFloat16, seed);
  return cudaGetLastError();
}

cudaError_t fill_nan_half(void* data, int64_t n, DType dtype, cudaStream_t stream) {
  fill_const_kernel<<<grid_for(n), 256, 0, stream>>>(static_cast<uint16_t*>(data), n,
                                                     dtype == DType::kBFloat16 ? 0x7fc0 : 0x7e00);
  return cudaGetLastError();
}

cudaError_t poison_tails(void* k_cache, DType dtype, int64_t page_stride, int h_kv,
                         const int32_t* d_seqlens, const int32_t* d_block_table, int64_t table_stride,
                         int64_t batch, uint64_t seed, bool poison, cudaStream_t stream) {
  poison_tails_kernel<<<static_cast<unsigned>(batch), 256, 0, stream>>>(
      static_cast<uint16_t*>(k_cache), dtype == DType::kBFloat16, page_stride, h_kv, d_seqlens,
      d_block_table, table_stride, seed, poison);
  return cudaGetLastError();
}

}  // namespace test
}  // namespace flashmla
