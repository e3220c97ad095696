// cuTensorMapEncodeTiled through the runtime's driver entry point, so the library needs no
// link-time dependency on libcuda.
#include "sm90/tensor_map.h"

#include <cuda_runtime.h>
#include <cudaTypedefs.h>

#include "flashmla/constants.h"

namespace flashmla {
namespace sm90 {

namespace {

PFN_cuTensorMapEncodeTiled_v12000 encode_function() {
  static const PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* ptr = nullptr;
    cudaDriverEntryPointQueryResult found{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &ptr, 12000, cudaEnableDefault,
                                         &found) != cudaSuccess ||
        found != cudaDriverEntryPointSuccess) {
      return static_cast<PFN_cuTensorMapEncodeTiled_v12000>(nullptr);
    }
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(ptr);
  }();
  return fn;
}

}  // namespace

bool make_k_cache_tensor_map(const TensorView& k_cache, CUtensorMap* map) {
  const PFN_cuTensorMapEncodeTiled_v12000 encode = encode_function();
  if (encode == nullptr) return false;
  const int64_t elem = 2;  // bf16 and fp16
  // A dimension of size 1 is never stepped over: any stride TMA accepts will do.
  auto stride_bytes = [&](int dim) -> cuuint64_t {
    return k_cache.shape[dim] == 1 ? 16 : static_cast<cuuint64_t>(k_cache.stride[dim] * elem);
  };
  const cuuint64_t dims[4] = {static_cast<cuuint64_t>(kHeadDimK), static_cast<cuuint64_t>(k_cache.shape[2]),
                              static_cast<cuuint64_t>(kPageSize), static_cast<cuuint64_t>(k_cache.shape[0])};
  const cuuint64_t strides[3] = {stride_bytes(2), stride_bytes(1), stride_bytes(0)};
  const cuuint32_t box[4] = {64, 1, static_cast<cuuint32_t>(kPageSize), 1};
  const cuuint32_t element_strides[4] = {1, 1, 1, 1};
  const CUtensorMapDataType type = k_cache.dtype == DType::kFloat16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16
                                                                    : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  const CUresult res = encode(map, type, 4, k_cache.data, dims, strides, box, element_strides,
                              CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                              CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return res == CUDA_SUCCESS;
}

bool make_q_tile_tensor_map(const TensorView& q, int ngroups, CUtensorMap* map) {
  const PFN_cuTensorMapEncodeTiled_v12000 encode = encode_function();
  if (encode == nullptr || ngroups <= 0) return false;
  if (ngroups % 64 != 0 && 64 % ngroups != 0) return false;
  if (q.stride[3] != 1) return false;
  const int64_t elem = 2;  // bf16 and fp16
  auto stride_bytes = [&](int dim) -> cuuint64_t {
    return q.shape[dim] == 1 ? 16 : static_cast<cuuint64_t>(q.stride[dim] * elem);
  };
  const int box_heads = ngroups < 64 ? ngroups : 64;
  const cuuint64_t dims[4] = {static_cast<cuuint64_t>(kHeadDimK), static_cast<cuuint64_t>(q.shape[2]),
                              static_cast<cuuint64_t>(q.shape[1]), static_cast<cuuint64_t>(q.shape[0])};
  const cuuint64_t strides[3] = {stride_bytes(2), stride_bytes(1), stride_bytes(0)};
  const cuuint32_t box[4] = {64, static_cast<cuuint32_t>(box_heads), static_cast<cuuint32_t>(64 / box_heads), 1};
  const cuuint32_t element_strides[4] = {1, 1, 1, 1};
  const CUtensorMapDataType type =
      q.dtype == DType::kFloat16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  const CUresult res = encode(map, type, 4, q.data, dims, strides, box, element_strides,
                              CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                              CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return res == CUDA_SUCCESS;
}

}  // namespace sm90
}  // namespace flashmla
