// flashmla_gpu_soak: random valid decode problems on the GPU, from several host threads each with
// its own stream at once, every one checked against the CPU backend, until the time is up. Finds
// what fixed test lists miss: rare shape/length combinations, races between concurrent calls, state
// left behind by an earlier call.
//
//   flashmla_gpu_soak --minutes M [--seed S] [--streams N]   soak (default 10 min, seed 1, 2
//   streams) flashmla_gpu_soak --replay SEED                          rerun the one case a failure
//   names flashmla_gpu_soak --check-cost [--iters N]               cost of input-checking mode
//
// Exit status: 0 all cases matched; 1 a mismatch, unwritten output, NaN or failed call; 2 bad
// arguments or no usable GPU (no CUDA device, or not a Hopper): nothing was run.
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gpu/gpu_support.h"
#include "gpu/soak_cases.h"
#include "gpu/soak_cost.h"
#include "test_support.h"

namespace flashmla {
namespace test {
namespace {

constexpr int kMaxReported = 20;  // mismatches printed in full; later ones are only counted
constexpr double kLseTolerance = 1e-4;

double out_tolerance(DType dtype) { return dtype == DType::kBFloat16 ? 1e-2 : 2e-3; }

struct Options {
  double minutes = 10.0;
  uint64_t seed = 1;
  int streams = 2;
  bool check_cost = false;
  int iters = 50;
  bool replay = false;
  uint64_t replay_seed = 0;
};

void usage(FILE* f) {
  std::fprintf(
      f,
      "usage: flashmla_gpu_soak [--minutes M] [--seed S] [--streams N]\n"
      "       flashmla_gpu_soak --replay CASE_SEED\n"
      "       flashmla_gpu_soak --check-cost [--iters N]\n"
      "Random valid decode problems on N streams from N host threads (default 2), each\n"
      "checked against the CPU backend, for M minutes (default 10). A failure names its\n"
      "case seed; --replay reruns that case alone. --check-cost times the decode with\n"
      "DecodeArgs::check_inputs off and on (median of N calls, default 50).\n"
      "Exit status: 0 pass, 1 mismatch or failed call, 2 bad arguments or no Hopper GPU.\n");
}

bool parse(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char** v) {
      if (i + 1 >= argc) return false;
      *v = argv[++i];
      return true;
    };
    const char* v = nullptr;
    char* end = nullptr;
    if (arg == "--help" || arg == "-h") {
      usage(stdout);
      std::exit(0);
    } else if (arg == "--check-cost") {
      o->check_cost = true;
    } else if (arg == "--minutes" && value(&v)) {
      o->minutes = std::strtod(v, &end);
      if (*end || !(o->minutes >= 0)) return false;
    } else if (arg == "--seed" && value(&v)) {
      o->seed = std::strtoull(v, &end, 0);
      if (*end) return false;
    } else if (arg == "--streams" && value(&v)) {
      o->streams = static_cast<int>(std::strtol(v, &end, 10));
      if (*end || o->streams < 1 || o->streams > 64) return false;
    } else if (arg == "--iters" && value(&v)) {
      o->iters = static_cast<int>(std::strtol(v, &end, 10));
      if (*end || o->iters < 1) return false;
    } else if (arg == "--replay" && value(&v)) {
      o->replay = true;
      o->replay_seed = std::strtoull(v, &end, 0);
      if (*end) return false;
    } else {
      std::fprintf(stderr, "flashmla_gpu_soak: bad or incomplete argument '%s'\n", arg.c_str());
      return false;
    }
  }
  return true;
}

// Why no soak can run here, or "".
std::string device_problem() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    cudaGetLastError();
    return std::string("no CUDA device present (cudaGetDeviceCount: ") +
           (e != cudaSuccess ? cudaGetErrorString(e) : "0 devices") + ")";
  }
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) return "cannot read device 0's properties";
  if (prop.major != 9) {
    return std::string("device 0 (") + prop.name + ", sm_" + std::to_string(prop.major) +
           std::to_string(prop.minor) + ") is not a Hopper GPU (sm_90)";
  }
  return "";
}

// A case seed from the run's seed, the worker and the case number (splitmix64 steps).
uint64_t case_seed(uint64_t seed, int worker, int64_t index) {
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL +
               static_cast<uint64_t>(worker) * 0xbf58476d1ce4e5b9ULL +
               static_cast<uint64_t>(index) * 0x94d049bb133111ebULL;
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct CaseResult {
  bool ok = true;
  bool cuda_error = false;  // the context may be unusable: stop the soak
  std::string why;
  DType dtype = DType::kBFloat16;
  double out_err = 0, lse_err = 0;
};

CaseResult run_case(uint64_t seed, cudaStream_t stream) {
  CaseResult r;
  const SoakCase c = random_soak_case(seed);
  r.dtype = c.spec.dtype;
  auto fail = [&r](const std::string& why) {
    if (r.ok) r.why = why;
    r.ok = false;
  };
  const DecodeProblem host = make_problem(c.spec);
  const UploadedProblem dev(host);
  if (!dev.q.get() || !dev.k_cache.get() || !dev.block_table.get() || !dev.seqlens.get()) {
    fail("device allocation of the problem failed");
    r.cuda_error = true;
    return r;
  }
  const GpuOutputs gpu = run_gpu(dev.view, stream, c.graph, c.replays);
  if (!gpu.status.ok()) {
    fail("GPU call failed: " + gpu.status.to_string());
    r.cuda_error = gpu.status.code() == StatusCode::kCudaError;
    return r;
  }
  if (gpu.unwritten_out || gpu.unwritten_lse) {
    fail("GPU left " + std::to_string(gpu.unwritten_out) + " out and " +
         std::to_string(gpu.unwritten_lse) + " lse values unwritten (NaN)");
  }
  const int parts = static_cast<int>(gpu.metadata.size() / kMetadataFields);
  const CpuRun cpu = run_cpu(host, parts);
  if (!cpu.status.ok()) {
    fail("CPU reference failed: " + cpu.status.to_string());
    return r;
  }
  if (gpu.metadata != cpu.metadata || gpu.num_splits != cpu.num_splits)
    fail("GPU metadata differs from the host scheduler");
  r.out_err = rel_error(widen(gpu.out, r.dtype), widen(cpu.out, r.dtype));
  r.lse_err = lse_rel_error(widen(gpu.lse), widen(cpu.lse));
  char buf[160];
  if (!(r.out_err < out_tolerance(r.dtype))) {
    std::snprintf(buf, sizeof(buf), "out relative error %.3g >= %.3g (inf: NaN or size mismatch)",
                  r.out_err, out_tolerance(r.dtype));
    fail(buf);
  }
  if (!(r.lse_err < kLseTolerance)) {
    std::snprintf(buf, sizeof(buf),
                  "lse relative error %.3g >= %.3g (inf: NaN, or +inf rows that differ)", r.lse_err,
                  kLseTolerance);
    fail(buf);
  }
  return r;
}

// Shared by the workers; every field behind the mutex.
struct Tally {
  std::mutex mu;
  int64_t cases = 0, mismatches = 0;
  int64_t per_dtype[2] = {0, 0};
  double worst_out[2] = {0, 0};  // bf16, fp16 (finite cases only: failures are counted apart)
  double worst_lse = 0;
  std::atomic<bool> stop{false};

  void add(const CaseResult& r, uint64_t seed, int worker) {
    std::lock_guard<std::mutex> lock(mu);
    ++cases;
    const int d = r.dtype == DType::kBFloat16 ? 0 : 1;
    ++per_dtype[d];
    if (std::isfinite(r.out_err)) worst_out[d] = std::max(worst_out[d], r.out_err);
    if (std::isfinite(r.lse_err)) worst_lse = std::max(worst_lse, r.lse_err);
    if (r.ok) return;
    if (++mismatches <= kMaxReported) {
      std::printf("MISMATCH (stream %d, case seed 0x%016" PRIx64
                  "; rerun: flashmla_gpu_soak "
                  "--replay 0x%016" PRIx64 "): %s\n  case: %s\n",
                  worker, seed, seed, r.why.c_str(), describe(random_soak_case(seed)).c_str());
      std::fflush(stdout);
    }
    if (r.cuda_error) {
      std::printf("soak: stopping after a CUDA error (the context may be unusable)\n");
      stop = true;
    }
  }
};

int soak(const Options& o) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(o.minutes * 60));
  std::printf("soak: %.2f minutes, %d streams, seed %" PRIu64 "\n", o.minutes, o.streams, o.seed);
  std::fflush(stdout);
  Tally tally;
  auto worker = [&](int id) {
    cudaStream_t stream = nullptr;
    if (cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) != cudaSuccess) {
      std::lock_guard<std::mutex> lock(tally.mu);
      std::printf("soak: stream %d: cudaStreamCreateWithFlags failed; stopping\n", id);
      ++tally.mismatches;
      tally.stop = true;
      return;
    }
    // Every stream runs at least one case, so even a very short soak exercises each.
    for (int64_t k = 0; !tally.stop && (k == 0 || Clock::now() < deadline); ++k) {
      const uint64_t seed = case_seed(o.seed, id, k);
      tally.add(run_case(seed, stream), seed, id);
    }
    cudaStreamDestroy(stream);
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < o.streams; ++i) threads.emplace_back(worker, i);

  // Progress about every 30 s (more often for short runs) until the workers finish.
  std::atomic<bool> done{false};
  std::thread progress([&] {
    const double period_s = std::clamp(o.minutes * 60 / 10, 1.0, 30.0);
    auto next = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(period_s));
    while (!done) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (Clock::now() < next || done) continue;
      next += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(period_s));
      std::lock_guard<std::mutex> lock(tally.mu);
      std::printf("soak: %5.0f s, %" PRId64 " cases (%" PRId64 " bf16, %" PRId64 " fp16), %" PRId64
                  " mismatches, worst out rel err bf16 %.3g fp16 %.3g, "
                  "worst lse rel err %.3g\n",
                  std::chrono::duration<double>(Clock::now() - start).count(), tally.cases,
                  tally.per_dtype[0], tally.per_dtype[1], tally.mismatches, tally.worst_out[0],
                  tally.worst_out[1], tally.worst_lse);
      std::fflush(stdout);
    }
  });
  for (std::thread& t : threads) t.join();
  done = true;
  progress.join();

  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("soak: %.0f s; bf16: %" PRId64
              " cases, worst out rel err %.3g (tolerance %.0e); "
              "fp16: %" PRId64 " cases, worst out rel err %.3g (tolerance %.0e)\n",
              elapsed, tally.per_dtype[0], tally.worst_out[0], out_tolerance(DType::kBFloat16),
              tally.per_dtype[1], tally.worst_out[1], out_tolerance(DType::kFloat16));
  std::printf("soak: %" PRId64 " cases, %" PRId64
              " mismatches, worst out rel err %.3g, worst lse "
              "rel err %.3g\n",
              tally.cases, tally.mismatches, std::max(tally.worst_out[0], tally.worst_out[1]),
              tally.worst_lse);
  return tally.mismatches == 0 ? 0 : 1;
}

int replay(uint64_t seed) {
  const SoakCase c = random_soak_case(seed);
  std::printf("replay: case seed 0x%016" PRIx64 ": %s\n", seed, describe(c).c_str());
  cudaStream_t stream;
  if (cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) != cudaSuccess) return 1;
  const CaseResult r = run_case(seed, stream);
  cudaStreamDestroy(stream);
  std::printf("replay: %s; out rel err %.3g, lse rel err %.3g%s%s\n", r.ok ? "ok" : "MISMATCH",
              r.out_err, r.lse_err, r.ok ? "" : ": ", r.why.c_str());
  return r.ok ? 0 : 1;
}

}  // namespace
}  // namespace test
}  // namespace flashmla

int main(int argc, char** argv) {
  using namespace flashmla::test;
  Options o;
  if (!parse(argc, argv, &o)) {
    usage(stderr);
    return 2;
  }
  const std::string problem = device_problem();
  if (!problem.empty()) {
    std::fprintf(stderr, "flashmla_gpu_soak: %s; nothing was run\n", problem.c_str());
    return 2;
  }
  if (o.check_cost) return run_check_cost(o.iters);
  if (o.replay) return replay(o.replay_seed);
  return soak(o);
}
