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

// Describes q [b, s_q, h_q, 576] for the seesaw kernel's 64-row tiles of query rows (DecodeParams:
// rows are (token, head-in-group) pairs of one kv head, token-major) as a 4-D tiled tensor map
// with dimensions, innermost first, (576 columns, h_q heads, s_q tokens, b), boxes of 64 columns x
// min(ngroups, 64) heads x 64 / min(ngroups, 64) tokens x 1 in 128-byte-swizzled slabs: one box is
// one slab of a tile, its rows in tile order; tokens past s_q read as zeros. Returns false where a
// tile is not one such box (ngroups neither a multiple nor a divisor of 64) or the driver cannot
// describe the view (strides not multiples of 16 bytes, say); the kernel then loads Q with
// cp.async.
bool make_q_tile_tensor_map(const TensorView& q, int ngroups, CUtensorMap* map);

}  // namespace sm90
}  // namespace flashmla
