// Single-shape mode: one decode step on the best backend present (or the one asked for).
#include <cmath>
#include <cstdio>
#include <string>

#include "accuracy.h"
#include "clock.h"
#include "flashmla/flashmla.h"
#include "host_decode.h"
#include "modes.h"
#include "oracle.h"
#include "parallel.h"
#include "problem.h"
#include "roofline.h"
#if defined(FLASHMLA_WITH_CUDA)
#include "gpu_ceilings.h"
#include "gpu_decode.h"
#include "gpu_util.h"
#endif

namespace bench {

namespace {

constexpr int kCpuDefaultIters = 5;
constexpr int kGpuDefaultIters = 50;
constexpr int kOracleRows = 64;

struct Measurement {
  double decode_s = 0.0;
  double metadata_s = 0.0;
  int iters = 0;
  Ceilings ceilings;
  std::string ceilings_note;
  ErrorReport errors;
};

std::string format_time(double s) {
  char buf[32];
  if (s >= 1e-1) {
    std::snprintf(buf, sizeof(buf), "%.3f s", s);
  } else if (s >= 1e-4) {
    std::snprintf(buf, sizeof(buf), "%.3f ms", s * 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f us", s * 1e6);
  }
  return buf;
}

int run_on_cpu(const HostProblem& p, int iters, Measurement* m) {
  m->ceilings = measure_cpu_ceilings();
  m->ceilings_note = "multithreaded memcpy / fp32 multiply-add loop on " +
                     std::to_string(host_threads()) + " threads";
  HostDecodeOutput out;
  HostTimings timings;
  const flashmla::Status st = run_cpu_decode(p, iters, &out, &timings);
  if (!st.ok()) {
    std::fprintf(stderr, "flashmla-bench: cpu backend failed: %s\n", st.to_string().c_str());
    return 1;
  }
  m->iters = iters;
  m->decode_s = median(timings.decode_s);
  m->metadata_s = median(timings.metadata_s);
  m->errors = check_against_oracle(p, out, kOracleRows);
  return 0;
}

#if defined(FLASHMLA_WITH_CUDA)
int run_on_gpu(const HostProblem& p, const Options& opts, int iters, Measurement* m) {
  gpu::Stream stream;
  flashmla::Status st = stream.create();
  if (st.ok()) st = gpu::measure_gpu_ceilings(stream.get(), &m->ceilings);
  m->ceilings_note = "2 GiB device copy / cuBLAS bf16 GEMM 8192^3";
  gpu::GpuRunResult r;
  if (st.ok()) {
    gpu::GpuRunOptions ro;
    ro.timing = opts.graph ? TimingMode::kGraph : TimingMode::kPlain;
    ro.iters = iters;
    st = gpu::run_gpu_problem(p, ro, stream.get(), &r);
  }
  if (!st.ok()) {
    std::fprintf(stderr, "flashmla-bench: cuda run failed: %s\n", st.to_string().c_str());
    return 1;
  }
  m->iters = iters;
  m->decode_s = r.decode_s;
  m->metadata_s = r.metadata_s;
  m->errors = r.errors;
  std::printf("plan:     %d SM parts; timing %s", r.num_sm_parts,
              opts.graph ? "CUDA graph of 24 calls" : "plain launches");
  if (opts.graph) std::printf(" over %d cache copies", r.cache_copies);
  std::printf("\n");
  return 0;
}
#endif

// Resolves --backend: "auto" takes CUDA when this build has it and an sm_90 device is present.
bool pick_backend(const Options& opts, Backend* backend) {
  *backend = opts.backend;
#if defined(FLASHMLA_WITH_CUDA)
  gpu::DeviceInfo info;
  std::string why_not;
  const bool gpu_ok = (opts.backend != Backend::kCpu) && gpu::find_hopper_device(&info, &why_not);
  if (opts.backend == Backend::kCuda && !gpu_ok) {
    std::fprintf(stderr, "flashmla-bench: --backend cuda: %s\n", why_not.c_str());
    return false;
  }
  if (opts.backend == Backend::kAuto) {
    *backend = gpu_ok ? Backend::kCuda : Backend::kCpu;
    if (!gpu_ok) std::printf("note: using the cpu backend: %s\n", why_not.c_str());
  }
  if (*backend == Backend::kCuda)
    std::printf("device:   %s (sm_%d%d, %d SMs)\n", info.name.c_str(), info.major, info.minor,
                info.sm_count);
#else
  if (opts.backend == Backend::kCuda) {
    std::fprintf(stderr,
                 "flashmla-bench: --backend cuda: this build has no CUDA backend (configure with "
                 "-DFLASHMLA_CUDA=ON)\n");
    return false;
  }
  *backend = Backend::kCpu;
#endif
  return true;
}

}  // namespace

int run_single(const Options& opts) {
  Backend backend = Backend::kCpu;
  if (!pick_backend(opts, &backend)) return 1;
  const bool on_gpu = backend == Backend::kCuda;
  const int iters = opts.iters > 0 ? opts.iters : (on_gpu ? kGpuDefaultIters : kCpuDefaultIters);

  std::printf("flashmla-bench %s: %s backend", flashmla::version(), backend_name(backend));
  if (!on_gpu) std::printf(" (%d worker parts)", flashmla::cpu_num_sm_parts());
  std::printf("\n");
  const auto t_gen = Clock::now();
  const HostProblem p = generate_problem(opts.spec);
  const WorkCounts work = count_work(p);
  std::printf("problem:  %s%s\n", opts.spec.describe().c_str(),
              opts.spec.causal ? "" : (opts.spec.s_q > 1 ? " (not causal)" : ""));
  std::printf("work:     %lld kv tokens, %.3f MB moved, %.3f GFLOP (inputs made in %.2f s)\n",
              static_cast<long long>(p.total_kv_tokens()), work.bytes / 1e6, work.flops / 1e9,
              seconds_since(t_gen));

  Measurement m;
  int rc = 0;
#if defined(FLASHMLA_WITH_CUDA)
  rc = on_gpu ? run_on_gpu(p, opts, iters, &m) : run_on_cpu(p, iters, &m);
#else
  rc = run_on_cpu(p, iters, &m);
#endif
  if (rc != 0) return rc;

  const double tflops = work.flops / m.decode_s / 1e12;
  const double gbs = work.bytes / m.decode_s / 1e9;
  const double roof = roofline_pct(work, m.ceilings, m.decode_s);
  std::printf("ceilings: copy %.1f GB/s (read + written), compute %.2f TFLOP/s (%s)\n",
              m.ceilings.copy_bytes_per_s / 1e9, m.ceilings.flops_per_s / 1e12,
              m.ceilings_note.c_str());
  std::printf("time:     decode %s (median of %d), metadata %s\n", format_time(m.decode_s).c_str(),
              m.iters, format_time(m.metadata_s).c_str());
  std::printf("rate:     %.4f TFLOP/s, %.2f GB/s, roofline %.1f%%\n", tflops, gbs, roof);
  const ErrorReport& e = m.errors;
  const bool pass = e.passes(opts.spec.dtype);
  std::printf(
      "check:    max_rel_err %.2e (out %.2e, lse %.2e, %lld non-finite) vs %s: %s "
      "(bound %.0e)\n",
      e.max_rel_err(), e.out_rel_err, e.lse_rel_err, static_cast<long long>(e.nonfinite),
      e.reference.c_str(), pass ? "PASS" : "FAIL", error_bound(opts.spec.dtype));
  return pass ? 0 : 1;
}

}  // namespace bench
