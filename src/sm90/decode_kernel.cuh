// The split-KV decode kernel: one thread block per (SM part, kv head, block of query rows) walks the
// pieces of sequences its part was given by the scheduler and writes either the final output (a
// sequence in one split) or a float32 partial result for the combine kernel.
//
// Work split inside a block (8 warps): the block's query rows (16, 32 or 64: kRowGroups groups of 16)
// are shared out as row groups; the kColSplit = 8 / kRowGroups warps of a row group split the page's
// 64 tokens for S = Q K^T and the 512 value columns for O += P V. The warps of a row group agree on
// the running row maximum through shared memory, and exchange P through shared memory.
//
// The default for 16- and 32-row tiles; 64-row tiles normally go to the seesaw kernel
// (seesaw_kernel.cuh). kWgmma (64-row tiles only; the fallback when no TMA descriptor can be built,
// or FLASHMLA_DECODE_KERNEL=wgmma): S = Q K^T and O += P V on warpgroup MMA straight from shared
// memory instead of ldmatrix + m16n8k16, with Q and K stored in wgmma's 128-byte-swizzle atom
// layout. Warpgroup g takes tokens 32g..32g+31 of S and value columns 256g..256g+255 of O.
//
// Per page: wait for the page (cp.async, zero-filled past the sequence's length), start the copy of
// the next page into the other buffer, S on the tensor cores (m16n8k16, k = 576), mask, online
// softmax, P to shared memory, O += P V (k = 64). Two page buffers: one in flight while one is used.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "core/scheduler.h"
#include "flashmla/constants.h"
#include "sm90/decode_params.h"
#include "sm90/ptx_primitives.cuh"
#include "sm90/wgmma.cuh"

namespace flashmla {
namespace sm90 {

constexpr int kDecodeWarps = 8;
constexpr int kDecodeThreads = kDecodeWarps * 32;

template <int kRowGroups>
struct DecodeTile {
  static_assert(kRowGroups == 1 || kRowGroups == 2 || kRowGroups == 4, "row groups");
  static constexpr int kRows = 16 * kRowGroups;                // query rows per block
  static constexpr int kColSplit = kDecodeWarps / kRowGroups;  // warps per row group
  static constexpr int kTokensPerWarp = kPageSize / kColSplit; // S columns per warp: 8, 16, 32
  static constexpr int kSTiles = kTokensPerWarp / 8;           // m16n8 tiles of S per warp
  static constexpr int kOCols = kHeadDimV / kColSplit;         // O columns per warp: 64..256
  static constexpr int kOTiles = kOCols / 8;
  static constexpr int kKChunks = kHeadDimK / 8;               // 16-byte chunks per K/Q row: 72
  static constexpr int kPChunks = kPageSize / 8;               // 16-byte chunks per P row: 8
  static constexpr int kKSteps = kHeadDimK / 16;               // MMA k-steps of S: 36

  // Shared memory, in bytes: Q | K page buffer 0 | K page buffer 1 | P | row max | row sum.
  static constexpr int kQBytes = kRows * kHeadDimK * 2;
  static constexpr int kPageBytes = kPageSize * kHeadDimK * 2;
  static constexpr int kPBytes = kRows * kPageSize * 2;
  static constexpr int kRedBytes = kColSplit * kRows * 4;
  static constexpr int kOffK0 = kQBytes;
  static constexpr int kOffK1 = kOffK0 + kPageBytes;
  static constexpr int kOffP = kOffK1 + kPageBytes;
  static constexpr int kOffMax = kOffP + kPBytes;
  static constexpr int kOffSum = kOffMax + kRedBytes;
  static constexpr int kSmemBytes = kOffSum + kRedBytes;
  static_assert(kSmemBytes <= 227 * 1024, "shared memory of one block");
};

// Element offset of 16-byte chunk `chunk` of row `row` in a swizzled tile with `chunks` chunks per
// row. XOR-ing the chunk with the row's low three bits spreads the eight rows an ldmatrix reads
// over all 32 banks (rows are 1152 or 128 bytes apart: without it they share banks).
__device__ __forceinline__ int swizzled(int row, int chunk, int chunks) {
  return row * chunks * 8 + ((chunk ^ (row & 7)) << 3);
}

// Element offset of chunk `chunk` of row `row` in a Q or K tile of `rows` rows. The wgmma path
// stores 64-column slabs (atoms of 128-byte rows, 1024-byte aligned) one after another, the layout
// wgmma's 128-byte swizzle mode reads; the XOR within a slab is the same as above.
template <bool kAtoms>
__device__ __forceinline__ int qk_tile_offset(int row, int chunk, int rows) {
  if constexpr (kAtoms) return (chunk >> 3) * rows * 64 + row * 64 + (((chunk & 7) ^ (row & 7)) << 3);
  return swizzled(row, chunk, kHeadDimK / 8);
}

template <typename T, int kRowGroups, bool kWgmma>
__global__ void __launch_bounds__(kDecodeThreads, 1) mla_decode_kernel(const DecodeParams p) {
  static_assert(!kWgmma || kRowGroups == 4, "the wgmma path works on 64-row tiles");
  using Tile = DecodeTile<kRowGroups>;
  using Traits = ElementTraits<T>;
  extern __shared__ __align__(1024) uint8_t smem[];  // wgmma's swizzle atoms: 1024-byte aligned
  T* s_q = reinterpret_cast<T*>(smem);
  T* s_p = reinterpret_cast<T*>(smem + Tile::kOffP);
  float* s_max = reinterpret_cast<float*>(smem + Tile::kOffMax);
  float* s_sum = reinterpret_cast<float*>(smem + Tile::kOffSum);
  const uint32_t s_q_addr = smem_addr(s_q);
  const uint32_t s_k0_addr = smem_addr(smem + Tile::kOffK0);  // buffer b at s_k0_addr + b * kPageBytes
  const uint32_t s_p_addr = smem_addr(s_p);
  if constexpr (kWgmma) {
    if (s_q_addr % 1024 != 0) __trap();  // the swizzle atoms' addresses would be wrong
  }

  const int part = blockIdx.x;
  const int kv_head = blockIdx.y;
  const int row_base = blockIdx.z * Tile::kRows;  // first query row (of this kv head) of the block
  const int tid = threadIdx.x;
  const int warp = tid / 32;
  const int lane = tid % 32;
  // With wgmma, warpgroup g = warp / 4 is the column part and the warp within it the row group,
  // matching the accumulator layout of a 64-row warpgroup MMA.
  const int row_group = kWgmma ? warp % kRowGroups : warp / Tile::kColSplit;
  const int col_part = kWgmma ? warp / kRowGroups : warp % Tile::kColSplit;
  // The two rows of every MMA accumulator fragment this thread holds (local to the block).
  const int frag_row0 = row_group * 16 + lane / 4;
  const int frag_rows[2] = {frag_row0, frag_row0 + 8};

  const int32_t* meta = p.metadata + static_cast<int64_t>(part) * kMetadataFields;
  const int begin_seq = meta[scheduler::kBeginSeq];
  const int begin_page = meta[scheduler::kBeginPage];
  const int end_seq = meta[scheduler::kEndSeq];
  const int end_page = meta[scheduler::kEndPage];
  const int begin_split = meta[scheduler::kBeginSplit];
  const uint64_t evict_first = make_evict_first_policy();
  const T* q = static_cast<const T*>(p.q);
  const T* k_cache = static_cast<const T*>(p.k_cache);

  for (int seq = begin_seq; seq <= end_seq; ++seq) {
    const int seqlen = p.seqlens[seq];
    const int page_begin = seq == begin_seq ? begin_page : 0;
    const int page_end = seq == end_seq ? end_page : static_cast<int>(scheduler::pages_of(seqlen));
    const int num_pages = page_end - page_begin;
    const int split = seq == begin_seq ? begin_split : 0;
    const int first_slot = p.num_splits[seq];
    const bool single_split = p.num_splits[seq + 1] - first_slot == 1;
    const int32_t* pages = p.block_table + static_cast<int64_t>(seq) * p.block_table_stride;

    // Copies page `page` of this sequence into buffer `buf`; tokens past seqlen are zero-filled.
    auto load_page = [&](int page, int buf) {
      const uint32_t s_k_addr = s_k0_addr + buf * Tile::kPageBytes;
      const int64_t page_id = pages[page];
      const T* src_page = k_cache + page_id * p.k_stride_page + kv_head * p.k_stride_head;
      for (int idx = tid; idx < kPageSize * Tile::kKChunks; idx += kDecodeThreads) {
        const int token = idx / Tile::kKChunks;
        const int chunk = idx % Tile::kKChunks;
        const bool valid = page * kPageSize + token < seqlen;
        const T* src = src_page + (valid ? token * p.k_stride_token + chunk * 8 : 0);
        cp_async_16_evict_first(s_k_addr + qk_tile_offset<kWgmma>(token, chunk, kPageSize) * 2, src,
                                valid, evict_first);
      }
    };

    __syncthreads();  // the previous sequence is done with every shared buffer
    if (num_pages > 0) {
      for (int idx = tid; idx < Tile::kRows * Tile::kKChunks; idx += kDecodeThreads) {
        const int row = idx / Tile::kKChunks;
        const int chunk = idx % Tile::kKChunks;
        const int q_row = row_base + row;
        const bool valid = q_row < p.q_rows;
        const int token = token_of_row(p, q_row);
        const int head = head_of_row(p, kv_head, q_row);
        const T* src = q + (valid ? seq * p.q_stride_batch + token * p.q_stride_token +
                                        head * p.q_stride_head + chunk * 8
                                  : 0);
        cp_async_16(s_q_addr + qk_tile_offset<kWgmma>(row, chunk, Tile::kRows) * 2, src, valid);
      }
      load_page(page_begin, 0);
      cp_async_commit();
    }

    // Keys visible to each of this thread's two rows: [0, limit).
    int limit[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int q_row = row_base + frag_rows[i];
      const int token = token_of_row(p, q_row);
      limit[i] = q_row >= p.q_rows ? 0 : (p.causal ? seqlen - p.s_q + token + 1 : seqlen);
    }

    float o[Tile::kOTiles][4];
#pragma unroll
    for (int t = 0; t < Tile::kOTiles; ++t) o[t][0] = o[t][1] = o[t][2] = o[t][3] = 0.f;
    float row_max[2] = {-INFINITY, -INFINITY};  // running max of base-2 scores
    float row_sum[2] = {0.f, 0.f};              // this thread's share of the running sum

    for (int j = 0; j < num_pages; ++j) {
      const int page = page_begin + j;
      const int buf = j & 1;
      cp_async_wait<0>();
      if constexpr (kWgmma) fence_proxy_async_smem();  // cp.async writes -> wgmma reads
      __syncthreads();  // page j has landed for all threads; all are done with page j - 1
      if (j + 1 < num_pages) {
        load_page(page + 1, buf ^ 1);
        cp_async_commit();
      }
      const uint32_t s_k_addr = s_k0_addr + buf * Tile::kPageBytes;

      // S = Q K^T for this warp's 16 rows and kTokensPerWarp tokens.
      float s[Tile::kSTiles][4];
      const int a_row = row_group * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
      const int token0 = col_part * Tile::kTokensPerWarp;
      if constexpr (kWgmma) {
        // The warpgroup's 64 rows x 32 tokens, k = 576 in 36 steps of 16: each step moves 32 bytes
        // along the 128-byte rows, every 4 steps the next 64-column slab begins.
        float* d = &s[0][0];
        wgmma_fence();
#pragma unroll
        for (int ks = 0; ks < Tile::kKSteps; ++ks) {
          const uint32_t k_byte = (ks & 3) * 32;
          const uint64_t desc_q = kmajor_sw128_desc(s_q_addr + (ks >> 2) * Tile::kRows * 128 + k_byte);
          const uint64_t desc_k =
              kmajor_sw128_desc(s_k_addr + (ks >> 2) * kPageSize * 128 + token0 * 128 + k_byte);
          wgmma_m64n32k16<T>(d, desc_q, desc_k, ks > 0 ? 1 : 0);
        }
        wgmma_commit();
        wgmma_wait<0>();
      } else {
#pragma unroll
        for (int t = 0; t < Tile::kSTiles; ++t) s[t][0] = s[t][1] = s[t][2] = s[t][3] = 0.f;
#pragma unroll 4
        for (int ks = 0; ks < Tile::kKSteps; ++ks) {
          uint32_t a[4];
          ldmatrix_x4(s_q_addr + swizzled(a_row, ks * 2 + (lane >> 4), Tile::kKChunks) * 2, a[0], a[1],
                      a[2], a[3]);
          if constexpr (Tile::kSTiles == 1) {
            uint32_t b[2];
            ldmatrix_x2(s_k_addr +
                            swizzled(token0 + (lane & 7), ks * 2 + ((lane >> 3) & 1), Tile::kKChunks) * 2,
                        b[0], b[1]);
            Traits::mma(s[0], a, b);
          } else {
#pragma unroll
            for (int tp = 0; tp < Tile::kSTiles / 2; ++tp) {
              uint32_t b[4];
              const int token = token0 + tp * 16 + (lane & 7) + (lane >> 4) * 8;
              ldmatrix_x4(s_k_addr + swizzled(token, ks * 2 + ((lane >> 3) & 1), Tile::kKChunks) * 2,
                          b[0], b[1], b[2], b[3]);
              Traits::mma(s[2 * tp], a, b);
              Traits::mma(s[2 * tp + 1], a, b + 2);
            }
          }
        }
      }

      // Scale to base 2, mask invisible keys, and find this warp's row maxima.
      float local_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
      for (int t = 0; t < Tile::kSTiles; ++t) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int r = e >> 1;
          const int key = page * kPageSize + token0 + t * 8 + 2 * (lane & 3) + (e & 1);
          s[t][e] = key < limit[r] ? s[t][e] * p.scale_log2 : -INFINITY;
          local_max[r] = fmaxf(local_max[r], s[t][e]);
        }
      }
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        local_max[r] = fmaxf(local_max[r], __shfl_xor_sync(0xffffffffu, local_max[r], 1));
        local_max[r] = fmaxf(local_max[r], __shfl_xor_sync(0xffffffffu, local_max[r], 2));
        if ((lane & 3) == 0) s_max[col_part * Tile::kRows + frag_rows[r]] = local_max[r];
      }
      __syncthreads();  // every warp's maxima are visible

      // Online softmax: new running max, rescale O and the sum, P = 2^(S - max) to shared memory.
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        float new_max = row_max[r];
#pragma unroll
        for (int c = 0; c < Tile::kColSplit; ++c)
          new_max = fmaxf(new_max, s_max[c * Tile::kRows + frag_rows[r]]);
        // A row with no visible key yet keeps max -inf; subtracting 0 then keeps every term 0.
        const float ref = new_max == -INFINITY ? 0.f : new_max;
        const float rescale = fast_exp2(row_max[r] - ref);
        row_max[r] = new_max;
        row_sum[r] *= rescale;
#pragma unroll
        for (int t = 0; t < Tile::kOTiles; ++t) {
          o[t][2 * r] *= rescale;
          o[t][2 * r + 1] *= rescale;
        }
#pragma unroll
        for (int t = 0; t < Tile::kSTiles; ++t) {
          const float p0 = fast_exp2(s[t][2 * r] - ref);
          const float p1 = fast_exp2(s[t][2 * r + 1] - ref);
          row_sum[r] += p0 + p1;
          const int token = token0 + t * 8 + 2 * (lane & 3);
          const int offset = swizzled(frag_rows[r], token >> 3, Tile::kPChunks) + (token & 7);
          *reinterpret_cast<uint32_t*>(s_p + offset) = Traits::pack(p0, p1);
        }
      }
      if constexpr (kWgmma) fence_proxy_async_smem();  // P stores -> wgmma reads
      __syncthreads();  // P of the whole page is in shared memory

      // O += P V for this warp's 16 rows and kOCols value columns (V = first 512 columns of K).
      if constexpr (kWgmma) {
        // The warpgroup's 64 rows x 256 value columns, k = the page's 64 tokens in 4 steps.
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < kPageSize / 16; ++kk) {
          const uint64_t desc_p = kmajor_sw128_desc(s_p_addr + kk * 32);
          const uint64_t desc_v = mnmajor_sw128_desc(
              s_k_addr + col_part * (Tile::kOCols / 64) * kPageSize * 128 + kk * 16 * 128,
              kPageSize * 128);
          wgmma_m64n256k16_acc_tb<T>(&o[0][0], desc_p, desc_v);
        }
        wgmma_commit();
        wgmma_wait<0>();
      } else {
#pragma unroll
        for (int kk = 0; kk < kPageSize / 16; ++kk) {
          uint32_t a[4];
          ldmatrix_x4(s_p_addr + swizzled(a_row, kk * 2 + (lane >> 4), Tile::kPChunks) * 2, a[0], a[1],
                      a[2], a[3]);
          const int v_token = kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
#pragma unroll
          for (int tp = 0; tp < Tile::kOTiles / 2; ++tp) {
            const int col_chunk = (col_part * Tile::kOCols + tp * 16) / 8 + (lane >> 4);
            uint32_t b[4];
            ldmatrix_x4_trans(s_k_addr + swizzled(v_token, col_chunk, Tile::kKChunks) * 2, b[0],
                              b[1], b[2], b[3]);
            Traits::mma(o[2 * tp], a, b);
            Traits::mma(o[2 * tp + 1], a, b + 2);
          }
        }
      }
    }

    // Epilogue: total row sums across the quad and the row group's warps, then normalise and store.
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      row_sum[r] += __shfl_xor_sync(0xffffffffu, row_sum[r], 1);
      row_sum[r] += __shfl_xor_sync(0xffffffffu, row_sum[r], 2);
      if ((lane & 3) == 0) s_sum[col_part * Tile::kRows + frag_rows[r]] = row_sum[r];
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float total = 0.f;
#pragma unroll
      for (int c = 0; c < Tile::kColSplit; ++c) total += s_sum[c * Tile::kRows + frag_rows[r]];
      const int q_row = row_base + frag_rows[r];
      if (q_row >= p.q_rows) continue;
      const float inv = total > 0.f ? 1.f / total : 0.f;
      // row_lse (decode_params.h), written out: calling it changed this kernel's register
      // allocation, and this fallback kernel's speed was not re-measured.
      const float lse = total > 0.f ? (row_max[r] + __log2f(total)) * 0.69314718055994531f
                                    : (single_split ? INFINITY : -INFINITY);
      const int token = token_of_row(p, q_row);
      const int head = head_of_row(p, kv_head, q_row);
      if (single_split) {
        T* out = static_cast<T*>(p.out) + out_row_offset(p, seq, token, head);
#pragma unroll
        for (int t = 0; t < Tile::kOTiles; ++t) {
          const int col = col_part * Tile::kOCols + t * 8 + 2 * (lane & 3);
          *reinterpret_cast<uint32_t*>(out + col) = Traits::pack(o[t][2 * r] * inv, o[t][2 * r + 1] * inv);
        }
        if (col_part == 0 && (lane & 3) == 0)
          p.lse[lse_offset(p, seq, token, head)] = lse;
      } else {
        const int64_t slot_row = split_slot_row(p, first_slot + split, kv_head, q_row);
        float* acc = p.o_accum + slot_row * kHeadDimV;
#pragma unroll
        for (int t = 0; t < Tile::kOTiles; ++t) {
          const int col = col_part * Tile::kOCols + t * 8 + 2 * (lane & 3);
          *reinterpret_cast<float2*>(acc + col) = make_float2(o[t][2 * r] * inv, o[t][2 * r + 1] * inv);
        }
        if (col_part == 0 && (lane & 3) == 0) p.lse_accum[slot_row] = lse;
      }
    }
  }
}

}  // namespace sm90
}  // namespace flashmla
