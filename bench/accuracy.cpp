#include "accuracy.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "flashmla/half.h"
#include "rng.h"

namespace bench {

namespace {

// Problems up to this many FLOPs are checked whole on the CPU; bigger ones on a sample.
constexpr double kFullCheckFlops = 2e9;
constexpr uint64_t kSampleSeedStream = 11;

}  // namespace

void RelErr::add(double got, double ref) {
  if (std::isinf(ref) || std::isinf(got)) {
    // +inf is the lse of a row that sees no key: it must match exactly.
    if (got != ref) broken_ = true;
    return;
  }
  if (std::isnan(got) || std::isnan(ref)) {
    broken_ = true;
    return;
  }
  diff2_ += (got - ref) * (got - ref);
  ref2_ += ref * ref;
}

double RelErr::value() const {
  if (broken_) return std::numeric_limits<double>::quiet_NaN();
  if (ref2_ == 0.0) return std::sqrt(diff2_);
  return std::sqrt(diff2_ / ref2_);
}

double ErrorReport::max_rel_err() const {
  if (nonfinite > 0 || std::isnan(out_rel_err) || std::isnan(lse_rel_err))
    return std::numeric_limits<double>::quiet_NaN();
  return std::max(out_rel_err, lse_rel_err);
}

bool ErrorReport::passes(flashmla::DType dtype) const {
  const double e = max_rel_err();
  return !std::isnan(e) && e < error_bound(dtype) && rows_compared > 0;
}

double error_bound(flashmla::DType dtype) {
  return dtype == flashmla::DType::kFloat16 ? 2e-3 : 1e-2;
}

int64_t count_nonfinite(const HostProblem& p, const uint16_t* out, const float* lse) {
  // Both formats are non-finite exactly when every exponent bit is set.
  const uint16_t exp_mask = p.spec.dtype == flashmla::DType::kFloat16 ? 0x7c00u : 0x7f80u;
  int64_t count = 0;
  for (int64_t i = 0; i < p.out_elems(); ++i) count += (out[i] & exp_mask) == exp_mask;
  for (int64_t i = 0; i < p.lse_elems(); ++i) count += std::isnan(lse[i]) ? 1 : 0;
  return count;
}

std::vector<int64_t> sample_sequences(const HostProblem& p) {
  const int64_t b = p.spec.b;
  const double flops = 2.0 * p.spec.s_q * p.spec.h_q * static_cast<double>(p.total_kv_tokens()) *
                       (flashmla::kHeadDimK + flashmla::kHeadDimV);
  std::vector<int64_t> seqs;
  if (b <= 4 || flops <= kFullCheckFlops) {
    for (int64_t n = 0; n < b; ++n) seqs.push_back(n);
    return seqs;
  }
  const int64_t longest = std::max_element(p.seqlens.begin(), p.seqlens.end()) - p.seqlens.begin();
  Rng rng(mix_seed(p.spec.seed, kSampleSeedStream));
  seqs = {0, b - 1, longest, static_cast<int64_t>(rng.below(static_cast<uint64_t>(b)))};
  std::sort(seqs.begin(), seqs.end());
  seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
  return seqs;
}

flashmla::Status make_cpu_reference(const HostProblem& p, CpuReference* ref) {
  ref->seqs = sample_sequences(p);
  const HostProblem sub = extract_sequences(p, ref->seqs);
  return run_cpu_decode(sub, 1, &ref->result, nullptr);
}

ErrorReport compare_with_reference(const HostProblem& p, const CpuReference& ref,
                                   const uint16_t* out, const float* lse) {
  const flashmla::DType dtype = p.spec.dtype;
  const int64_t out_per_seq = int64_t{p.spec.s_q} * p.spec.h_q * flashmla::kHeadDimV;
  const int64_t lse_per_seq = int64_t{p.spec.h_q} * p.spec.s_q;
  RelErr out_err, lse_err;
  for (size_t j = 0; j < ref.seqs.size(); ++j) {
    const uint16_t* got_o = out + ref.seqs[j] * out_per_seq;
    const uint16_t* ref_o = ref.result.out.get() + static_cast<int64_t>(j) * out_per_seq;
    for (int64_t i = 0; i < out_per_seq; ++i)
      out_err.add(flashmla::half_to_float(got_o[i], dtype),
                  flashmla::half_to_float(ref_o[i], dtype));
    const float* got_l = lse + ref.seqs[j] * lse_per_seq;
    const float* ref_l = ref.result.lse.data() + static_cast<int64_t>(j) * lse_per_seq;
    for (int64_t i = 0; i < lse_per_seq; ++i) lse_err.add(got_l[i], ref_l[i]);
  }
  ErrorReport report;
  report.out_rel_err = out_err.value();
  report.lse_rel_err = lse_err.value();
  report.rows_compared = static_cast<int64_t>(ref.seqs.size()) * p.spec.s_q * p.spec.h_q;
  report.nonfinite = count_nonfinite(p, out, lse);
  report.reference = "cpu backend on " + std::to_string(ref.seqs.size()) + " of " +
                     std::to_string(p.spec.b) + " sequences";
  return report;
}

ErrorReport worse_of(const ErrorReport& a, const ErrorReport& b) {
  const double ea = a.max_rel_err();
  const double eb = b.max_rel_err();
  if (std::isnan(ea)) return a;
  if (std::isnan(eb)) return b;
  return eb > ea ? b : a;
}

}  // namespace bench
