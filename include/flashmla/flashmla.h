// flashmla: Multi-head Latent Attention (MLA) decoding over a paged KV cache.
//
// The two calls mirror the reference FlashMLA API:
//   1. get_mla_metadata(): once per decode step, plans how the KV pages of all sequences are split
//      over the GPU's SM parts (or the CPU's worker parts). The plan is reused by every layer.
//   2. mla_decode_with_kvcache(): once per layer, computes attention following that plan.
//
// The problem (DeepSeek-V2/V3/R1 "absorbed" MLA; one shared latent KV head per group):
//   q             [b, s_q, h_q, 576]                bf16 or fp16 (last dim contiguous)
//   k_cache       [num_blocks, 64, h_kv, 576]       same dtype as q (last dim contiguous)
//                 V is the first head_dim_v = 512 columns of K, stored once.
//   block_table   [b, max_blocks_per_seq] int32     page id of the j-th 64-token page of sequence i
//   cache_seqlens [b] int32                         tokens in sequence i's cache (new tokens included)
//   out           [b, s_q, h_q, 512]                same dtype as q, contiguous
//   lse           [b, h_q, s_q] float32             natural-log sum-exp of the scaled scores, contiguous
//
// For query token i of sequence n, head h, with L = cache_seqlens[n]: keys 0..L-1 are visible, or with
// `causal` 0..L-s_q+i. S_t = scale * <q, K_t>, out = softmax(S) V. A row that sees no key gets
// out = 0 and lse = +inf, so that split results combine correctly. Token t of sequence n lives at
// k_cache[block_table[n][t / 64], t % 64, kv_head, :]; cache slots past L are never read into the
// result (they may hold NaN). Query head h reads kv head h / (h_q / h_kv).
//
// Backends: tensors on the CPU run the CPU backend (fp32 accumulation, multithreaded, same split plan);
// tensors on a CUDA device run the Hopper (sm_90a) kernels. All tensors of one call must be on the same
// device. The GPU path never synchronises the host: a whole decode step can be captured in a CUDA graph.
//
// Errors: every call returns a Status. On any error nothing is written to the outputs. Shapes, dtypes,
// strides and devices are always checked; data values (cache_seqlens, block_table, metadata) are
// checked when they are on the host, and on the GPU only in input-checking mode (see DecodeArgs).
//
// Thread safety: every call is reentrant and may run concurrently from several host threads, on
// different streams or the same one. The library keeps no mutable global state besides a
// once-initialised per-device cache of device properties.
#pragma once

#include <cstddef>
#include <cstdint>

#include "flashmla/constants.h"
#include "flashmla/status.h"
#include "flashmla/tensor.h"

namespace flashmla {

// ---------------------------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------------------------

// Number of SM parts the scheduler splits the work into for a device with `sm_count` multiprocessors:
// sm_count / h_kv / ceil(q_rows_per_kv_head / 64), at least 1. q_rows_per_kv_head = s_q * h_q / h_kv.
int num_sm_parts_for_sm_count(int sm_count, int q_rows_per_kv_head, int h_kv);

// The number of SM parts get_mla_metadata() plans for on `device` (a CUDA device reads its SM count;
// for the CPU it returns cpu_num_sm_parts()). Use it to size tile_scheduler_metadata.
Status get_num_sm_parts(Device device, int q_rows_per_kv_head, int h_kv, int* num_sm_parts);

// Parts used on the CPU: the number of worker threads (FLASHMLA_CPU_THREADS, else the hardware
// concurrency), at least 1. Any positive count gives the same result; it only changes the split plan.
int cpu_num_sm_parts();

struct MetadataArgs {
  // [b] int32, contiguous; b >= 1. Each length >= 0.
  TensorView cache_seqlens;
  // s_q * h_q / h_kv: query rows that share one kv head (the reference's num_heads_per_head_k).
  int q_rows_per_kv_head = 0;
  // Number of KV heads (1 for DeepSeek).
  int h_kv = 1;
  // Output, [num_sm_parts, 8] int32 contiguous, on the same device as cache_seqlens. On CUDA,
  // num_sm_parts must equal get_num_sm_parts(); on the CPU any count >= 1 is accepted.
  TensorView tile_scheduler_metadata;
  // Output, [b + 1] int32 contiguous: num_splits[i+1] - num_splits[i] is the number of splits of
  // sequence i; num_splits[0] = 0.
  TensorView num_splits;
  // cudaStream_t to run on (CUDA tensors only); nullptr is the default stream.
  void* stream = nullptr;
};

// Plans the split of every sequence's pages over the SM parts (balanced: each part gets at most
// ceil(total / parts) + 5 pages of cost, a sequence part costing 5 pages more than its pages). On
// CUDA it runs a small kernel on `stream` reading cache_seqlens on the device: no host sync.
Status get_mla_metadata(const MetadataArgs& args);

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

struct DecodeArgs {
  // q and k_cache: last dim contiguous, other strides positive. On CUDA the kernels copy 16-byte
  // vectors, so there the data pointers of q, k_cache and out must be 16-byte aligned and the
  // strides of q and k_cache multiples of 8 elements (kInvalidArgument otherwise).
  TensorView q;              // [b, s_q, h_q, 576], bf16/fp16, last dim contiguous
  TensorView k_cache;        // [num_blocks, 64, h_kv, 576], dtype of q, last dim contiguous
  TensorView block_table;    // [b, max_blocks_per_seq] int32, last dim contiguous
  TensorView cache_seqlens;  // [b] int32, contiguous
  int head_dim_v = kHeadDimV;  // must be 512
  TensorView tile_scheduler_metadata;  // from get_mla_metadata() for these seqlens and shape
  TensorView num_splits;               // from get_mla_metadata()
  // Scale of the scores; 0 means the default 1/sqrt(576). Must be finite and > 0 otherwise.
  float softmax_scale = 0.0f;
  // Speculative decoding: query token i of s_q sees keys 0..L-s_q+i only.
  bool causal = false;
  TensorView out;  // output, [b, s_q, h_q, 512], dtype of q, contiguous
  TensorView lse;  // output, [b, h_q, s_q] float32, contiguous
  // Scratch memory on the tensors' device for split partial results, at least
  // decode_workspace_size() bytes, 16-byte aligned. Required on CUDA; on the CPU it may be null
  // (the library then allocates it). Not read before it is written; may be reused across calls
  // that are ordered on one stream.
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  // cudaStream_t to run on (CUDA tensors only); nullptr is the default stream.
  void* stream = nullptr;
  // Input-checking mode: validate cache_seqlens (0 <= L <= 64 * max_blocks_per_seq), every used
  // block_table entry (0 <= page < num_blocks), the metadata's stamp (the b, rows and h_kv it was
  // planned for) and that the plan covers these cache_seqlens' pages (not a plan made for other
  // lengths of the same shape) before decoding, and return kInvalidInputData naming a bad value
  // instead of reading out of bounds (on the CPU these checks always run). Costs one small kernel,
  // one small device-to-host copy and one host synchronisation (not allowed during graph
  // capture). Also switched on by the environment variable FLASHMLA_CHECK_INPUTS=1.
  bool check_inputs = false;
};

// Bytes of workspace mla_decode_with_kvcache() needs for this shape: room for the partial output
// (float32, 512 wide) and lse of at most b + num_sm_parts splits per kv head and query row.
size_t decode_workspace_size(int64_t batch, int num_sm_parts, int q_rows_per_kv_head, int h_kv);

// Computes out and lse as described at the top of this file.
Status mla_decode_with_kvcache(const DecodeArgs& args);

// Library version, "MAJOR.MINOR.PATCH".
const char* version();

// Whether this build contains the CUDA (sm_90a) backend; without it CUDA tensors get
// kUnsupportedDevice.
bool built_with_cuda();

}  // namespace flashmla
