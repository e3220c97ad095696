// Comparing a result with a reference: the relative error ||got - ref|| / ||ref|| of DESIGN.md
// section 5, for out and for lse, with NaN or a missed +inf (an empty row) counted as a failure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flashmla/flashmla.h"
#include "host_decode.h"
#include "problem.h"

namespace bench {

// Accumulates one relative error over many values.
class RelErr {
 public:
  void add(double got, double ref);
  // NaN when some value was not comparable (NaN, or +inf on one side only); 0 when nothing was
  // added; the absolute error norm when the reference norm is 0.
  double value() const;

 private:
  double diff2_ = 0.0;
  double ref2_ = 0.0;
  bool broken_ = false;
};

struct ErrorReport {
  double out_rel_err = 0.0;
  double lse_rel_err = 0.0;
  int64_t rows_compared = 0;  // (sequence, token, head) rows
  // Non-finite out values plus NaN lse values over the whole output: outputs are poisoned with
  // NaN before the run, so an unwritten row shows here even when it was not sampled.
  int64_t nonfinite = 0;
  std::string reference;  // what it was compared with, for the report

  // The larger of the two errors, NaN when either is NaN or the output had non-finite values.
  double max_rel_err() const;
  // Below the DESIGN.md bound of the dtype (bf16 1e-2, fp16 2e-3) and nothing non-finite.
  bool passes(flashmla::DType dtype) const;
};

// The error bound of a dtype.
double error_bound(flashmla::DType dtype);

// Non-finite values of an output in the problem's dtype plus NaN values of an lse (where +inf is
// legitimate: a row that sees no key).
int64_t count_nonfinite(const HostProblem& p, const uint16_t* out, const float* lse);

// Sequences to check a big problem on: all of them when the whole problem is cheap on the CPU,
// else the first, the last, the longest and one at random (deterministic from the spec's seed).
std::vector<int64_t> sample_sequences(const HostProblem& p);

// The CPU backend's result on a sub-problem of the sampled sequences of a problem.
struct CpuReference {
  std::vector<int64_t> seqs;  // sequences of the full problem, in the sub-problem's order
  HostDecodeOutput result;
};

flashmla::Status make_cpu_reference(const HostProblem& p, CpuReference* ref);

// Compares a full result (`out`, `lse` laid out for all of p's sequences) with the reference on
// the sampled sequences, and scans all of it for non-finite values.
ErrorReport compare_with_reference(const HostProblem& p, const CpuReference& ref,
                                   const uint16_t* out, const float* lse);

// The worse of two reports (NaN wins).
ErrorReport worse_of(const ErrorReport& a, const ErrorReport& b);

}  // namespace bench
