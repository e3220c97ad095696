// One MLA decode step on the CPU backend: plan the split once, then decode (as every layer would).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "flashmla/flashmla.h"
#include "flashmla/half.h"  // bf16/fp16 <-> float on the host

using flashmla::bf16_to_float;
using flashmla::DType;
using flashmla::float_to_bf16;
using flashmla::TensorView;

int main() {
  const int64_t b = 2, s_q = 1, h_q = 16, h_kv = 1, pages_per_seq = 4;
  const int64_t num_blocks = b * pages_per_seq;
  const flashmla::Device cpu;  // the default device is the CPU

  // Inputs: q [b, s_q, h_q, 576], a paged cache [num_blocks, 64, h_kv, 576], the page ids of each
  // sequence and the number of tokens in each sequence's cache.
  std::vector<uint16_t> q(b * s_q * h_q * flashmla::kHeadDimK);
  std::vector<uint16_t> k_cache(num_blocks * flashmla::kPageSize * h_kv * flashmla::kHeadDimK);
  for (size_t i = 0; i < q.size(); ++i) q[i] = float_to_bf16(std::sin(0.01f * i));
  for (size_t i = 0; i < k_cache.size(); ++i) k_cache[i] = float_to_bf16(std::cos(0.003f * i));
  std::vector<int32_t> block_table = {3, 0, 6, 5, 1, 7, 2, 4};  // [b, pages_per_seq]
  std::vector<int32_t> seqlens = {200, 256};

  // 1. Once per decode step: plan how the pages are split over the worker parts.
  const int q_rows = static_cast<int>(s_q * h_q / h_kv);
  int parts = 0;
  flashmla::Status st = flashmla::get_num_sm_parts(cpu, q_rows, h_kv, &parts);
  std::vector<int32_t> metadata(parts * flashmla::kMetadataFields);
  std::vector<int32_t> num_splits(b + 1);
  flashmla::MetadataArgs plan;
  plan.cache_seqlens = TensorView::contiguous(seqlens.data(), DType::kInt32, cpu, {b});
  plan.q_rows_per_kv_head = q_rows;
  plan.h_kv = static_cast<int>(h_kv);
  plan.tile_scheduler_metadata = TensorView::contiguous(metadata.data(), DType::kInt32, cpu,
                                                        {parts, flashmla::kMetadataFields});
  plan.num_splits = TensorView::contiguous(num_splits.data(), DType::kInt32, cpu, {b + 1});
  if (st.ok()) st = flashmla::get_mla_metadata(plan);

  // 2. Once per layer: attention over the cache, following the plan.
  std::vector<uint16_t> out(b * s_q * h_q * flashmla::kHeadDimV);
  std::vector<float> lse(b * h_q * s_q);
  flashmla::DecodeArgs args;
  args.q =
      TensorView::contiguous(q.data(), DType::kBFloat16, cpu, {b, s_q, h_q, flashmla::kHeadDimK});
  args.k_cache =
      TensorView::contiguous(k_cache.data(), DType::kBFloat16, cpu,
                             {num_blocks, flashmla::kPageSize, h_kv, flashmla::kHeadDimK});
  args.block_table =
      TensorView::contiguous(block_table.data(), DType::kInt32, cpu, {b, pages_per_seq});
  args.cache_seqlens = plan.cache_seqlens;
  args.tile_scheduler_metadata = plan.tile_scheduler_metadata;
  args.num_splits = plan.num_splits;
  args.out =
      TensorView::contiguous(out.data(), DType::kBFloat16, cpu, {b, s_q, h_q, flashmla::kHeadDimV});
  args.lse = TensorView::contiguous(lse.data(), DType::kFloat32, cpu, {b, h_q, s_q});
  if (st.ok()) st = flashmla::mla_decode_with_kvcache(args);
  if (!st.ok()) {
    std::fprintf(stderr, "flashmla error: %s\n", st.to_string().c_str());
    return 1;
  }

  double checksum = 0.0;
  for (uint16_t v : out) checksum += bf16_to_float(v);
  for (float v : lse) checksum += v;
  std::printf("flashmla %s: out[0,0,0,0] = %.5f, lse[0,0,0] = %.5f, checksum = %.6f\n",
              flashmla::version(), bf16_to_float(out[0]), lse[0], checksum);
  return 0;
}
