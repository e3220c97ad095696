#include "host_decode.h"

#include <algorithm>
#include <cstddef>
#include <limits>

#include "clock.h"
#include "flashmla/half.h"

namespace bench {

using flashmla::DType;
using flashmla::TensorView;

TensorView q_view(const HostProblem& p, flashmla::Device device, const void* data) {
  return TensorView::contiguous(const_cast<void*>(data), p.spec.dtype, device,
                                {p.spec.b, p.spec.s_q, p.spec.h_q, flashmla::kHeadDimK});
}

TensorView cache_view(const HostProblem& p, flashmla::Device device, const void* data) {
  return TensorView::contiguous(
      const_cast<void*>(data), p.spec.dtype, device,
      {p.num_blocks, flashmla::kPageSize, p.spec.h_kv, flashmla::kHeadDimK});
}

TensorView block_table_view(const HostProblem& p, flashmla::Device device, const void* data) {
  return TensorView::contiguous(const_cast<void*>(data), DType::kInt32, device,
                                {p.spec.b, p.max_blocks_per_seq});
}

TensorView seqlens_view(const HostProblem& p, flashmla::Device device, const void* data) {
  return TensorView::contiguous(const_cast<void*>(data), DType::kInt32, device, {p.spec.b});
}

TensorView out_view(const HostProblem& p, flashmla::Device device, void* data) {
  return TensorView::contiguous(data, p.spec.dtype, device,
                                {p.spec.b, p.spec.s_q, p.spec.h_q, flashmla::kHeadDimV});
}

TensorView lse_view(const HostProblem& p, flashmla::Device device, void* data) {
  return TensorView::contiguous(data, DType::kFloat32, device, {p.spec.b, p.spec.h_q, p.spec.s_q});
}

flashmla::Status run_cpu_decode(const HostProblem& p, int iters, HostDecodeOutput* result,
                                HostTimings* timings) {
  const flashmla::Device cpu{};
  const int q_rows = p.spec.q_rows_per_kv_head();
  int parts = 0;
  flashmla::Status st = flashmla::get_num_sm_parts(cpu, q_rows, p.spec.h_kv, &parts);
  if (!st.ok()) return st;

  std::vector<int32_t> metadata(static_cast<size_t>(parts) * flashmla::kMetadataFields);
  std::vector<int32_t> num_splits(static_cast<size_t>(p.spec.b + 1));
  flashmla::MetadataArgs margs;
  margs.cache_seqlens = seqlens_view(p, cpu, p.seqlens.data());
  margs.q_rows_per_kv_head = q_rows;
  margs.h_kv = p.spec.h_kv;
  margs.tile_scheduler_metadata = TensorView::contiguous(metadata.data(), DType::kInt32, cpu,
                                                         {parts, flashmla::kMetadataFields});
  margs.num_splits = TensorView::contiguous(num_splits.data(), DType::kInt32, cpu, {p.spec.b + 1});

  // Allocated once, outside the timed calls; max_align_t keeps it 16-byte aligned.
  const size_t ws_bytes = flashmla::decode_workspace_size(p.spec.b, parts, q_rows, p.spec.h_kv);
  std::vector<std::max_align_t> workspace(ws_bytes / sizeof(std::max_align_t) + 1);

  result->out.allocate(p.out_elems());
  std::fill(result->out.get(), result->out.get() + result->out.size,
            flashmla::half_quiet_nan(p.spec.dtype));
  result->lse.assign(static_cast<size_t>(p.lse_elems()), std::numeric_limits<float>::quiet_NaN());

  flashmla::DecodeArgs dargs;
  dargs.q = q_view(p, cpu, p.q.get());
  dargs.k_cache = cache_view(p, cpu, p.k_cache.get());
  dargs.block_table = block_table_view(p, cpu, p.block_table.data());
  dargs.cache_seqlens = margs.cache_seqlens;
  dargs.tile_scheduler_metadata = margs.tile_scheduler_metadata;
  dargs.num_splits = margs.num_splits;
  dargs.causal = p.spec.causal;
  dargs.out = out_view(p, cpu, result->out.get());
  dargs.lse = lse_view(p, cpu, result->lse.data());
  dargs.workspace = workspace.data();
  dargs.workspace_bytes = workspace.size() * sizeof(std::max_align_t);

  for (int it = 0; it < std::max(1, iters); ++it) {
    auto start = Clock::now();
    st = flashmla::get_mla_metadata(margs);
    if (!st.ok()) return st;
    if (timings) timings->metadata_s.push_back(seconds_since(start));
    start = Clock::now();
    st = flashmla::mla_decode_with_kvcache(dargs);
    if (!st.ok()) return st;
    if (timings) timings->decode_s.push_back(seconds_since(start));
  }
  return flashmla::Status::Ok();
}

}  // namespace bench
