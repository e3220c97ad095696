#include "core/scheduler.h"

#include <cstddef>
#include <vector>

namespace flashmla {
namespace scheduler {

bool plan_on_host(const int32_t* seqlens, int64_t batch, int num_parts, int q_rows_per_kv_head,
                  int h_kv, int32_t* metadata, int32_t* num_splits) {
  if (batch < 1 || num_parts < 1) return false;
  int64_t total_cost = 0;
  for (int64_t i = 0; i < batch; ++i) total_cost += pages_of(seqlens[i]) + kFixedOverheadPages;
  const int64_t payload = payload_of(total_cost, num_parts);

  std::vector<int64_t> splits(static_cast<size_t>(batch), 0);
  const bool covered = walk_plan(
      batch, num_parts, payload, [&](int64_t i) { return pages_of(seqlens[i]); },
      [&](int p, const int64_t* row) {
        int32_t* out = metadata + static_cast<int64_t>(p) * kMetadataFields;
        for (int f = 0; f < 5; ++f) out[f] = static_cast<int32_t>(row[f]);
        out[kStampBatch] = static_cast<int32_t>(batch);
        out[kStampRows] = q_rows_per_kv_head;
        out[kStampHeadsKV] = h_kv;
      },
      [&](int64_t i, int64_t n) { splits[static_cast<size_t>(i)] = n; });

  num_splits[0] = 0;
  for (int64_t i = 0; i < batch; ++i)
    num_splits[i + 1] = num_splits[i] + static_cast<int32_t>(splits[static_cast<size_t>(i)]);
  return covered;
}

}  // namespace scheduler
}  // namespace flashmla
