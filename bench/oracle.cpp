#include "oracle.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "flashmla/half.h"
#include "parallel.h"
#include "rng.h"

namespace bench {

namespace {

using flashmla::kHeadDimK;
using flashmla::kHeadDimV;
using flashmla::kPageSize;

constexpr uint64_t kOracleSeedStream = 12;

struct RowId {
  int64_t n;
  int i;  // query token
  int h;  // query head
};

struct RowResult {
  std::vector<double> out;  // kHeadDimV values
  double lse;
};

RowResult oracle_row(const HostProblem& p, const RowId& r) {
  const ProblemSpec& s = p.spec;
  const flashmla::DType dtype = s.dtype;
  const int64_t len = std::max<int32_t>(0, p.seqlens[r.n]);
  int64_t visible = s.causal ? len - s.s_q + r.i + 1 : len;
  visible = std::max<int64_t>(0, std::min(visible, len));
  RowResult res{std::vector<double>(kHeadDimV, 0.0), std::numeric_limits<double>::infinity()};
  if (visible == 0) return res;

  const double scale = 1.0 / std::sqrt(static_cast<double>(kHeadDimK));
  const int kv_head = r.h / (s.h_q / s.h_kv);
  const uint16_t* q = p.q.get() + ((r.n * s.s_q + r.i) * s.h_q + r.h) * kHeadDimK;
  std::vector<double> qd(kHeadDimK);
  for (int d = 0; d < kHeadDimK; ++d) qd[d] = flashmla::half_to_float(q[d], dtype);

  auto key = [&](int64_t t) {
    const int64_t page = p.block_table[r.n * p.max_blocks_per_seq + t / kPageSize];
    return p.k_cache.get() + page * p.page_elems() +
           ((t % kPageSize) * s.h_kv + kv_head) * kHeadDimK;
  };
  std::vector<double> scores(static_cast<size_t>(visible));
  double max_score = -std::numeric_limits<double>::infinity();
  for (int64_t t = 0; t < visible; ++t) {
    const uint16_t* k = key(t);
    double dot = 0.0;
    for (int d = 0; d < kHeadDimK; ++d) dot += qd[d] * flashmla::half_to_float(k[d], dtype);
    scores[t] = scale * dot;
    max_score = std::max(max_score, scores[t]);
  }
  double sum = 0.0;
  for (int64_t t = 0; t < visible; ++t) {
    const double w = std::exp(scores[t] - max_score);
    sum += w;
    const uint16_t* v = key(t);
    for (int d = 0; d < kHeadDimV; ++d) res.out[d] += w * flashmla::half_to_float(v[d], dtype);
  }
  for (double& o : res.out) o /= sum;
  res.lse = max_score + std::log(sum);
  return res;
}

}  // namespace

ErrorReport check_against_oracle(const HostProblem& p, const HostDecodeOutput& got, int rows) {
  const ProblemSpec& s = p.spec;
  const int64_t total_rows = s.b * s.s_q * s.h_q;
  std::vector<RowId> ids;
  auto row_of = [&](int64_t flat) {
    return RowId{flat / (int64_t{s.s_q} * s.h_q), static_cast<int>(flat / s.h_q % s.s_q),
                 static_cast<int>(flat % s.h_q)};
  };
  ids.push_back(row_of(0));
  if (total_rows > 1) ids.push_back(row_of(total_rows - 1));
  Rng rng(mix_seed(s.seed, kOracleSeedStream));
  while (static_cast<int64_t>(ids.size()) < std::min<int64_t>(rows, total_rows))
    ids.push_back(row_of(static_cast<int64_t>(rng.below(static_cast<uint64_t>(total_rows)))));

  std::vector<RowResult> refs(ids.size());
  parallel_for(static_cast<int64_t>(ids.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) refs[k] = oracle_row(p, ids[k]);
  });

  RelErr out_err, lse_err;
  for (size_t k = 0; k < ids.size(); ++k) {
    const RowId& r = ids[k];
    const uint16_t* o = got.out.get() + ((r.n * s.s_q + r.i) * s.h_q + r.h) * kHeadDimV;
    for (int d = 0; d < kHeadDimV; ++d)
      out_err.add(flashmla::half_to_float(o[d], s.dtype), refs[k].out[d]);
    lse_err.add(got.lse[(r.n * s.h_q + r.h) * s.s_q + r.i], refs[k].lse);
  }
  ErrorReport report;
  report.out_rel_err = out_err.value();
  report.lse_rel_err = lse_err.value();
  report.rows_compared = static_cast<int64_t>(ids.size());
  report.nonfinite = count_nonfinite(p, got.out.get(), got.lse.data());
  report.reference = "fp64 oracle on " + std::to_string(ids.size()) + " sampled rows";
  return report;
}

}  // namespace bench
