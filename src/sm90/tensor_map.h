// The TMA descriptor of the paged KV cache for the seesaw kernel, built on the host per call.
#pragma once

#include <cuda.h>

#include <cstdint>

#include "flashmla/tensor.h"

namespace flashmla {
namespace sm90 {

// Describes k_cache [num_blocks, 64, h_kv, 576] (strides in elements) as a 4-D tiled tensor map
// with dimensions, innermost first, (576 columns, h_kv heads, 64 tokens, pages) and 64 x 1 x 64 x 1
// boxes in 128-byte-swizzled 64x64 slabs. Returns false when the driver cannot describe this view
// (the caller then uses a kernel without TMA); it does not fail for any view validation accepts
// on an sm_90 driver.
bool make_k_cache_tensor_map(const TensorView& k_cache, CUtensorMap* map);

}  // namespace sm90
}  // namespace flashmla
