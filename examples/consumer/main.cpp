// Links against an installed flashmla and plans a decode step on the CPU: proves that the headers,
// the library and its dependencies are all found through flashmlaConfig.cmake.
#include <cstdint>
#include <cstdio>
#include <vector>

#include "flashmla/flashmla.h"

int main() {
  const flashmla::Device cpu;
  std::vector<int32_t> seqlens = {1000, 64, 0};
  const int64_t b = static_cast<int64_t>(seqlens.size());
  const int parts = 4;
  std::vector<int32_t> metadata(parts * flashmla::kMetadataFields);
  std::vector<int32_t> num_splits(b + 1);

  flashmla::MetadataArgs plan;
  plan.cache_seqlens =
      flashmla::TensorView::contiguous(seqlens.data(), flashmla::DType::kInt32, cpu, {b});
  plan.q_rows_per_kv_head = 16;
  plan.h_kv = 1;
  plan.tile_scheduler_metadata = flashmla::TensorView::contiguous(
      metadata.data(), flashmla::DType::kInt32, cpu, {parts, flashmla::kMetadataFields});
  plan.num_splits =
      flashmla::TensorView::contiguous(num_splits.data(), flashmla::DType::kInt32, cpu, {b + 1});
  const flashmla::Status st = flashmla::get_mla_metadata(plan);
  if (!st.ok()) {
    std::fprintf(stderr, "consumer: %s\n", st.to_string().c_str());
    return 1;
  }
  std::printf("consumer: flashmla %s, %d splits over %d parts\n", flashmla::version(),
              num_splits[b], parts);
  return 0;
}
