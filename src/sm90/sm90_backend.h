// The Hopper backend's entry points, called by the dispatcher after validation. Plain C++ so that
// host-only translation units can include it; the kernels live in .cu files beside it.
#pragma once

#include "core/decode_shape.h"
#include "flashmla/flashmla.h"

namespace flashmla {
namespace sm90 {

// Multiprocessor count of a CUDA device; kUnsupportedDevice unless it is compute capability 9.x.
Status device_sm_count(int device_index, int* sm_count);

// Peak DRAM bandwidth per multiprocessor in GB/s (memory clock x 2 x bus width / SMs; H100 SXM
// 25.4, H200 37.3), for kernel choices that depend on how fast each SM can be fed; 0 if unknown.
double device_peak_gbs_per_sm(int device_index);

// Runs the metadata kernel on args.stream (args validated, tensors on CUDA).
Status get_metadata(const MetadataArgs& args);

// Runs the decode (and, where sequences are split, the combine) on args.stream (args validated).
Status decode(const DecodeArgs& args, const DecodeShape& shape);

// Input-checking mode: validates cache_seqlens, block_table and metadata stamps on the device and
// synchronises the stream to report the first bad value as kInvalidInputData.
Status check_inputs(const DecodeArgs& args, const DecodeShape& shape);

}  // namespace sm90
}  // namespace flashmla
