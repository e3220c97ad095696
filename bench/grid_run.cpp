// Grid mode: the DESIGN.md benchmark grid on the GPU, ceilings first, one CSV row per
// configuration.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "clock.h"
#include "csv.h"
#include "grid.h"
#include "modes.h"
#include "roofline.h"
#if defined(FLASHMLA_WITH_CUDA)
#include "gpu_ceilings.h"
#include "gpu_decode.h"
#include "gpu_util.h"
#endif

namespace bench {

#if !defined(FLASHMLA_WITH_CUDA)

int run_grid(const Options&) {
  std::fprintf(stderr,
               "flashmla-bench: --grid needs a CUDA build (configure with -DFLASHMLA_CUDA=ON) and "
               "a Hopper GPU; --list shows the grid\n");
  return 1;
}

#else

namespace {

constexpr int kGridIters = 20;
constexpr int kGridWarmup = 3;

std::string commit_of(const Options& opts) {
  if (!opts.commit.empty()) return opts.commit;
  const char* env = std::getenv("FLASHMLA_COMMIT");
  if (env != nullptr && env[0] != '\0') return env;
  return "unknown";
}

// After a failed configuration: an error that poisons the CUDA context (an illegal address, a
// trap) makes every later call fail too, so the run stops there.
bool context_is_broken(std::string* why) {
  cudaGetLastError();
  const cudaError_t err = cudaDeviceSynchronize();
  if (err == cudaSuccess) return false;
  *why = cudaGetErrorString(err);
  return true;
}

}  // namespace

int run_grid(const Options& opts) {
  gpu::DeviceInfo info;
  std::string why_not;
  if (!gpu::find_hopper_device(&info, &why_not)) {
    std::fprintf(stderr, "flashmla-bench: --grid: %s\n", why_not.c_str());
    return 1;
  }
  const std::vector<GridConfig> grid = design_grid();
  std::vector<int> rows = opts.rows;
  if (rows.empty()) {
    for (size_t i = 0; i < grid.size(); ++i) rows.push_back(static_cast<int>(i));
  }
  for (int r : rows) {
    if (r < 0 || r >= static_cast<int>(grid.size())) {
      std::fprintf(stderr, "flashmla-bench: --rows: expected row numbers in [0, %zu), got %d\n",
                   grid.size(), r);
      return 2;
    }
  }
  const std::string gpu_name =
      opts.gpu_name.empty() ? gpu::short_gpu_name(info.name) : opts.gpu_name;
  const std::string commit = commit_of(opts);
  // --out may name a directory (an existing one, or a path ending in '/'): <gpu>.csv goes inside.
  std::string out_path = opts.out_path.empty() ? "bench/results/" : opts.out_path;
  std::error_code ec;
  if (out_path.back() == '/' || std::filesystem::is_directory(out_path, ec)) {
    if (out_path.back() != '/') out_path += '/';
    out_path += gpu_name + ".csv";
  }
  const int iters = opts.iters > 0 ? opts.iters : kGridIters;
  std::printf("flashmla-bench %s grid on %s (sm_%d%d, %d SMs, %s), commit %s, %zu rows -> %s\n",
              flashmla::version(), info.name.c_str(), info.major, info.minor, info.sm_count,
              gpu::format_bytes(static_cast<double>(info.total_memory)).c_str(), commit.c_str(),
              rows.size(), out_path.c_str());

  gpu::Stream stream;
  Ceilings ceilings;
  flashmla::Status st = stream.create();
  if (st.ok()) st = gpu::measure_gpu_ceilings(stream.get(), &ceilings);
  if (!st.ok()) {
    std::fprintf(stderr, "flashmla-bench: measuring the ceilings failed: %s\n",
                 st.to_string().c_str());
    return 1;
  }
  std::printf(
      "ceilings: copy %.0f GB/s (2 GiB device copy, read + written), bf16 GEMM %.1f "
      "TFLOP/s (cuBLAS 8192^3)\n\n",
      ceilings.copy_bytes_per_s / 1e9, ceilings.flops_per_s / 1e12);

  CsvFile csv;
  std::string error;
  if (!csv.open(out_path, &error)) {
    std::fprintf(stderr, "flashmla-bench: %s\n", error.c_str());
    return 1;
  }
  print_table_header();

  int failures = 0;
  int written = 0;
  std::vector<double> big_batch_roofs;
  const auto t_start = Clock::now();
  for (int r : rows) {
    const GridConfig& cfg = grid[r];
    const HostProblem p = generate_problem(cfg.spec);
    gpu::GpuRunOptions ro;
    ro.timing = cfg.timing;
    ro.iters = iters;
    ro.warmup = kGridWarmup;
    gpu::GpuRunResult result;
    st = gpu::run_gpu_problem(p, ro, stream.get(), &result);
    if (!st.ok()) {
      ++failures;
      std::fprintf(stderr, "flashmla-bench: row %d (%s) failed: %s\n", r,
                   cfg.spec.describe().c_str(), st.to_string().c_str());
      std::string why;
      if (context_is_broken(&why)) {
        std::fprintf(stderr,
                     "flashmla-bench: the CUDA context is unusable (%s); stopping after %d rows\n",
                     why.c_str(), written);
        break;
      }
      continue;
    }
    const WorkCounts work = count_work(p);
    ResultRow row;
    row.commit = commit;
    row.gpu = gpu_name;
    row.spec = cfg.spec;
    row.time_us = result.decode_s * 1e6;
    row.tflops = work.flops / result.decode_s / 1e12;
    row.gbs = work.bytes / result.decode_s / 1e9;
    row.roofline_pct = roofline_pct(work, ceilings, result.decode_s);
    row.copy_gbs = ceilings.copy_bytes_per_s / 1e9;
    row.gemm_tflops = ceilings.flops_per_s / 1e12;
    row.max_rel_err = result.errors.max_rel_err();
    const bool pass = result.errors.passes(cfg.spec.dtype);
    if (!pass) ++failures;
    if (!csv.append(row)) {
      std::fprintf(stderr, "flashmla-bench: writing %s failed\n", out_path.c_str());
      return 1;
    }
    ++written;
    if (cfg.spec.b == 128 && cfg.spec.dtype == flashmla::DType::kBFloat16)
      big_batch_roofs.push_back(row.roofline_pct);
    print_table_row(row, std::string(pass ? "ok" : "FAIL") + " (" + timing_mode_name(cfg.timing) +
                             ", " + std::to_string(result.errors.rows_compared) + " rows checked)");
  }

  std::printf("\n%d rows written to %s in %.0f s", written, out_path.c_str(),
              seconds_since(t_start));
  if (!big_batch_roofs.empty()) {
    double log_sum = 0.0;
    double min_roof = big_batch_roofs[0];
    for (double v : big_batch_roofs) {
      log_sum += std::log(v);
      min_roof = std::min(min_roof, v);
    }
    std::printf("; b=128 bf16 rows: min roofline %.1f%%, geomean %.1f%% over %zu rows", min_roof,
                std::exp(log_sum / big_batch_roofs.size()), big_batch_roofs.size());
  }
  std::printf("\n");
  if (failures > 0) {
    std::fprintf(stderr, "flashmla-bench: %d of %zu rows failed (error or accuracy check)\n",
                 failures, rows.size());
    return 1;
  }
  return 0;
}

#endif  // FLASHMLA_WITH_CUDA

}  // namespace bench
