#include "test_support.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <random>

#include "flashmla/half.h"

namespace flashmla {
namespace test {

int64_t DecodeProblem::total_tokens() const {
  int64_t total = 0;
  for (int32_t len : seqlens) total += len;
  return total;
}

TensorView DecodeProblem::q_view(void* data, Device device) const {
  TensorView t = TensorView::contiguous(data ? data : const_cast<uint16_t*>(q.data()), spec.dtype,
                                        device, {spec.b, spec.s_q, spec.h_q, kHeadDimK});
  for (int d = 0; d < 4; ++d) t.stride[d] = q_stride[d];
  return t;
}

TensorView DecodeProblem::k_cache_view(void* data, Device device) const {
  TensorView t =
      TensorView::contiguous(data ? data : const_cast<uint16_t*>(k_cache.data()), spec.dtype,
                             device, {num_blocks, kPageSize, spec.h_kv, kHeadDimK});
  for (int d = 0; d < 4; ++d) t.stride[d] = k_stride[d];
  return t;
}

TensorView DecodeProblem::block_table_view(void* data, Device device) const {
  TensorView t = TensorView::contiguous(data ? data : const_cast<int32_t*>(block_table.data()),
                                        DType::kInt32, device, {spec.b, max_blocks});
  t.stride[0] = table_stride[0];
  t.stride[1] = table_stride[1];
  return t;
}

TensorView DecodeProblem::seqlens_view(void* data, Device device) const {
  return TensorView::contiguous(data ? data : const_cast<int32_t*>(seqlens.data()), DType::kInt32,
                                device, {spec.b});
}

DecodeProblem make_problem(const ProblemSpec& spec) {
  DecodeProblem p;
  p.spec = spec;
  std::mt19937_64 rng(spec.seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);

  if (!spec.seqlens.empty()) {
    p.seqlens = spec.seqlens;
    p.spec.b = static_cast<int64_t>(spec.seqlens.size());
  } else {
    const int min_len = spec.min_len >= 0 ? spec.min_len : spec.s_q;
    std::normal_distribution<double> lengths(spec.s_k, std::max(spec.s_k / 4.0, 1.0));
    for (int64_t n = 0; n < spec.b; ++n) {
      double len = spec.s_k;
      if (spec.varlen && spec.s_k > 0) len = std::round(lengths(rng));
      len = std::min(len, 2.0 * spec.s_k);
      p.seqlens.push_back(static_cast<int32_t>(std::max(len, static_cast<double>(min_len))));
    }
  }
  const int64_t b = p.spec.b;

  // Pages: every sequence's pages plus spares, handed out as a random permutation.
  int64_t used_pages = 0;
  int64_t longest = 0;
  for (int32_t len : p.seqlens) {
    const int64_t pages = (static_cast<int64_t>(len) + kPageSize - 1) / kPageSize;
    used_pages += pages;
    longest = std::max(longest, pages);
  }
  p.num_blocks = std::max<int64_t>(1, used_pages + spec.spare_pages);
  p.max_blocks = std::max<int64_t>(1, longest + spec.extra_table_columns);
  std::vector<int32_t> perm(static_cast<size_t>(p.num_blocks));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);

  p.table_stride[0] = p.max_blocks + spec.table_row_pad;
  p.table_stride[1] = 1;
  // Unused entries hold garbage a decoder must not follow: -1, a huge index, or a real page
  // (which may belong to another sequence).
  p.block_table.resize(static_cast<size_t>(b * p.table_stride[0]));
  std::uniform_int_distribution<int> garbage_kind(0, 2);
  std::uniform_int_distribution<int64_t> any_page(0, p.num_blocks - 1);
  for (int32_t& e : p.block_table) {
    const int kind = garbage_kind(rng);
    e = kind == 0   ? -1
        : kind == 1 ? std::numeric_limits<int32_t>::max() - 7
                    : static_cast<int32_t>(any_page(rng));
  }
  size_t next_page = 0;
  for (int64_t n = 0; n < b; ++n) {
    const int64_t pages =
        (static_cast<int64_t>(p.seqlens[static_cast<size_t>(n)]) + kPageSize - 1) / kPageSize;
    for (int64_t j = 0; j < pages; ++j) {
      p.block_table[static_cast<size_t>(n * p.table_stride[0] + j)] = perm[next_page++];
    }
  }

  // k_cache: NaN everywhere, then real data in the slots below each sequence's length.
  p.k_stride[3] = 1;
  p.k_stride[2] = kHeadDimK;
  p.k_stride[1] = static_cast<int64_t>(spec.h_kv) * kHeadDimK + spec.k_token_pad;
  p.k_stride[0] = kPageSize * p.k_stride[1];
  p.k_cache.assign(static_cast<size_t>(p.num_blocks * p.k_stride[0]), half_quiet_nan(spec.dtype));
  for (int64_t n = 0; n < b; ++n) {
    const int64_t len = p.seqlens[static_cast<size_t>(n)];
    for (int64_t t = 0; t < len; ++t) {
      const int64_t page =
          p.block_table[static_cast<size_t>(n * p.table_stride[0] + t / kPageSize)];
      for (int kv = 0; kv < spec.h_kv; ++kv) {
        uint16_t* dst = &p.k_cache[static_cast<size_t>(
            page * p.k_stride[0] + (t % kPageSize) * p.k_stride[1] + kv * p.k_stride[2])];
        for (int c = 0; c < kHeadDimK; ++c) dst[c] = float_to_half(normal(rng), spec.dtype);
      }
    }
  }

  p.q_stride[3] = 1;
  p.q_stride[2] = kHeadDimK + spec.q_head_pad;
  p.q_stride[1] = spec.h_q * p.q_stride[2];
  p.q_stride[0] = spec.s_q * p.q_stride[1];
  // Padding between heads is NaN too: a decoder that reads past 576 columns shows it.
  p.q.assign(static_cast<size_t>(b * p.q_stride[0]), half_quiet_nan(spec.dtype));
  for (int64_t n = 0; n < b; ++n) {
    for (int i = 0; i < spec.s_q; ++i) {
      for (int h = 0; h < spec.h_q; ++h) {
        uint16_t* dst =
            &p.q[static_cast<size_t>(n * p.q_stride[0] + i * p.q_stride[1] + h * p.q_stride[2])];
        for (int c = 0; c < kHeadDimK; ++c) dst[c] = float_to_half(normal(rng), spec.dtype);
      }
    }
  }
  return p;
}

std::vector<double> widen(const std::vector<uint16_t>& bits, DType dtype) {
  std::vector<double> out(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) {
    out[i] = half_to_float(bits[i], dtype);
  }
  return out;
}

std::vector<double> widen(const std::vector<float>& values) {
  return std::vector<double>(values.begin(), values.end());
}

double rel_error(const std::vector<double>& a, const std::vector<double>& b) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (a.size() != b.size()) return kInf;
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) return kInf;
    const double d = a[i] - b[i];
    diff += d * d;
    norm += b[i] * b[i];
  }
  if (std::isnan(diff)) return kInf;  // inf - inf
  return norm > 0.0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

double lse_rel_error(const std::vector<double>& got, const std::vector<double>& ref) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (got.size() != ref.size()) return kInf;
  std::vector<double> g, r;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(got[i]) || std::isnan(ref[i])) return kInf;
    const bool got_inf = got[i] == kInf;
    const bool ref_inf = ref[i] == kInf;
    if (got_inf != ref_inf) return kInf;
    if (!ref_inf) {
      g.push_back(got[i]);
      r.push_back(ref[i]);
    }
  }
  return rel_error(g, r);
}

CpuRun run_cpu(const DecodeProblem& problem, int num_sm_parts, bool caller_workspace) {
  const ProblemSpec& s = problem.spec;
  const Device cpu{};
  CpuRun run;
  run.metadata.assign(static_cast<size_t>(num_sm_parts) * kMetadataFields, -7);
  run.num_splits.assign(static_cast<size_t>(s.b + 1), -7);

  MetadataArgs margs;
  margs.cache_seqlens = problem.seqlens_view();
  margs.q_rows_per_kv_head = problem.q_rows();
  margs.h_kv = s.h_kv;
  margs.tile_scheduler_metadata = TensorView::contiguous(run.metadata.data(), DType::kInt32, cpu,
                                                         {num_sm_parts, kMetadataFields});
  margs.num_splits = TensorView::contiguous(run.num_splits.data(), DType::kInt32, cpu, {s.b + 1});
  run.status = get_mla_metadata(margs);
  if (!run.status.ok()) return run;

  run.out.assign(static_cast<size_t>(problem.out_numel()), half_quiet_nan(s.dtype));
  run.lse.assign(static_cast<size_t>(problem.lse_numel()), std::numeric_limits<float>::quiet_NaN());
  std::vector<float> workspace;
  DecodeArgs args;
  args.q = problem.q_view();
  args.k_cache = problem.k_cache_view();
  args.block_table = problem.block_table_view();
  args.cache_seqlens = problem.seqlens_view();
  args.tile_scheduler_metadata = margs.tile_scheduler_metadata;
  args.num_splits = margs.num_splits;
  args.softmax_scale = s.softmax_scale;
  args.causal = s.causal;
  args.out = TensorView::contiguous(run.out.data(), s.dtype, cpu, {s.b, s.s_q, s.h_q, kHeadDimV});
  args.lse = TensorView::contiguous(run.lse.data(), DType::kFloat32, cpu, {s.b, s.h_q, s.s_q});
  if (caller_workspace) {
    const size_t bytes = decode_workspace_size(s.b, num_sm_parts, problem.q_rows(), s.h_kv);
    workspace.assign((bytes + sizeof(float) - 1) / sizeof(float),
                     std::numeric_limits<float>::quiet_NaN());
    args.workspace = workspace.data();
    args.workspace_bytes = bytes;
  }
  run.status = mla_decode_with_kvcache(args);
  for (uint16_t v : run.out) run.unwritten_out += std::isnan(half_to_float(v, s.dtype)) ? 1 : 0;
  for (float v : run.lse) run.unwritten_lse += std::isnan(v) ? 1 : 0;
  return run;
}

int ulp_distance(uint16_t a, uint16_t b) {
  // Map sign-magnitude bit patterns onto a monotone integer line (works for both 16-bit formats).
  auto line = [](uint16_t v) -> int32_t { return (v & 0x8000) ? -(v & 0x7fff) : (v & 0x7fff); };
  return std::abs(line(a) - line(b));
}

}  // namespace test
}  // namespace flashmla
