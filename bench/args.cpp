#include "args.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "flashmla/constants.h"

namespace bench {

namespace {

// Largest accepted values: far above any real decode step, low enough to keep sizes in range.
constexpr int64_t kMaxBatch = 1 << 16;
constexpr int64_t kMaxSeqLen = int64_t{1} << 24;

bool parse_int(const std::string& text, int64_t lo, int64_t hi, int64_t* value) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) return false;
  *value = v;
  return true;
}

std::string range_text(int64_t lo, int64_t hi) {
  return "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
}

bool parse_list(const std::string& text, int64_t lo, int64_t hi, std::vector<int64_t>* out) {
  out->clear();
  size_t pos = 0;
  while (true) {
    const size_t comma = text.find(',', pos);
    int64_t v = 0;
    if (!parse_int(text.substr(pos, comma - pos), lo, hi, &v)) return false;
    out->push_back(v);
    if (comma == std::string::npos) return true;
    pos = comma + 1;
  }
}

}  // namespace

const char* backend_name(Backend backend) {
  switch (backend) {
    case Backend::kCpu:
      return "cpu";
    case Backend::kCuda:
      return "cuda";
    default:
      return "auto";
  }
}

std::string usage_text(const char* program) {
  // Written as it prints; {program} stands for argv[0].
  std::string text = R"(usage:
  {program} [shape options] [--backend auto|cpu|cuda] [--iters N] [--graph]
      one decode step (metadata + decode) on one shape: time, TFLOP/s, GB/s, roofline %,
      and the error against the CPU backend (or, on the CPU, an fp64 oracle);
      --iters N timed runs (default 5 on the CPU, 50 on the GPU); --graph times CUDA-graph
      replays of 24 calls over rotated cache copies instead of plain launches
  {program} --grid [--out FILE] [--gpu-name NAME] [--commit HASH] [--rows i,j,...]
      the DESIGN.md benchmark grid on the GPU, written as CSV to FILE (a directory
      gets <gpu>.csv inside; default bench/results/<gpu>.csv); commit from --commit,
      $FLASHMLA_COMMIT or 'unknown'; --iters N timed runs per row (default 20)
  {program} --list      print the grid with its row numbers
  {program} --plan [--sms N] [--rows i,j,...]
      the split plan of each grid row, on the host (no GPU needed): splits, how many
      pieces each part holds, pages per part, and the balance of parts (default 132 SMs)
  {program} --help
shape options (defaults: b=4 s_q=1 s_k=1024 h_q=16 h_kv=1 bf16, fixed lengths):
  --b N --s_q N --s_k N --h_q N --h_kv N --dtype bf16|fp16 --varlen --causal
  --seqlens a,b,c   explicit cache lengths (sets b to their count) --seed N
)";
  const std::string placeholder = "{program}";
  for (size_t at = text.find(placeholder); at != std::string::npos;
       at = text.find(placeholder, at + std::strlen(program))) {
    text.replace(at, placeholder.size(), program);
  }
  return text;
}

bool parse_args(int argc, char** argv, Options* opts, std::string* error) {
  Options o;
  bool b_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    // Accept both "--flag value" and "--flag=value".
    std::string name = arg;
    std::string value;
    bool has_value = false;
    const size_t eq = arg.find('=');
    if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    auto take_value = [&]() -> bool {
      if (has_value) return true;
      if (i + 1 >= argc) {
        *error = name + ": expected a value";
        return false;
      }
      value = argv[++i];
      has_value = true;
      return true;
    };
    auto take_int = [&](int64_t lo, int64_t hi, int64_t* v) -> bool {
      if (!take_value()) return false;
      if (!parse_int(value, lo, hi, v)) {
        *error = name + ": expected " + range_text(lo, hi) + ", got '" + value + "'";
        return false;
      }
      return true;
    };
    auto no_value = [&]() -> bool {
      if (has_value) *error = name + ": takes no value";
      return !has_value;
    };
    int64_t v = 0;
    if (name == "--help" || name == "-h") {
      if (!no_value()) return false;
      o.mode = Mode::kHelp;
    } else if (name == "--grid") {
      if (!no_value()) return false;
      o.mode = Mode::kGrid;
    } else if (name == "--list") {
      if (!no_value()) return false;
      o.mode = Mode::kList;
    } else if (name == "--plan") {
      if (!no_value()) return false;
      o.mode = Mode::kPlan;
    } else if (name == "--sms") {
      if (!take_int(1, 1 << 16, &v)) return false;
      o.sms = static_cast<int>(v);
    } else if (name == "--b") {
      if (!take_int(1, kMaxBatch, &v)) return false;
      o.spec.b = v;
      b_given = true;
    } else if (name == "--s_q") {
      if (!take_int(1, flashmla::kMaxQueryTokens, &v)) return false;
      o.spec.s_q = static_cast<int>(v);
    } else if (name == "--s_k") {
      if (!take_int(0, kMaxSeqLen, &v)) return false;
      o.spec.s_k = static_cast<int>(v);
    } else if (name == "--h_q") {
      if (!take_int(1, flashmla::kMaxQueryHeads, &v)) return false;
      o.spec.h_q = static_cast<int>(v);
    } else if (name == "--h_kv") {
      if (!take_int(1, flashmla::kMaxQueryHeads, &v)) return false;
      o.spec.h_kv = static_cast<int>(v);
    } else if (name == "--dtype") {
      if (!take_value()) return false;
      if (value == "bf16" || value == "bfloat16") {
        o.spec.dtype = flashmla::DType::kBFloat16;
      } else if (value == "fp16" || value == "float16") {
        o.spec.dtype = flashmla::DType::kFloat16;
      } else {
        *error = "--dtype: expected bf16 or fp16, got '" + value + "'";
        return false;
      }
    } else if (name == "--varlen") {
      if (!no_value()) return false;
      o.spec.varlen = true;
    } else if (name == "--causal") {
      if (!no_value()) return false;
      o.spec.causal = true;
    } else if (name == "--seqlens") {
      if (!take_value()) return false;
      std::vector<int64_t> lens;
      if (!parse_list(value, 0, kMaxSeqLen, &lens) ||
          static_cast<int64_t>(lens.size()) > kMaxBatch) {
        *error = "--seqlens: expected a comma-separated list of integers in [0, " +
                 std::to_string(kMaxSeqLen) + "], got '" + value + "'";
        return false;
      }
      o.spec.seqlens.assign(lens.begin(), lens.end());
    } else if (name == "--seed") {
      if (!take_int(0, INT64_MAX, &v)) return false;
      o.spec.seed = static_cast<uint64_t>(v);
    } else if (name == "--backend") {
      if (!take_value()) return false;
      if (value == "auto") {
        o.backend = Backend::kAuto;
      } else if (value == "cpu") {
        o.backend = Backend::kCpu;
      } else if (value == "cuda") {
        o.backend = Backend::kCuda;
      } else {
        *error = "--backend: expected auto, cpu or cuda, got '" + value + "'";
        return false;
      }
    } else if (name == "--iters") {
      if (!take_int(1, 100000, &v)) return false;
      o.iters = static_cast<int>(v);
    } else if (name == "--graph") {
      if (!no_value()) return false;
      o.graph = true;
    } else if (name == "--out") {
      if (!take_value()) return false;
      o.out_path = value;
    } else if (name == "--gpu-name") {
      if (!take_value()) return false;
      o.gpu_name = value;
    } else if (name == "--commit") {
      if (!take_value()) return false;
      o.commit = value;
    } else if (name == "--rows") {
      if (!take_value()) return false;
      std::vector<int64_t> rows;
      if (!parse_list(value, 0, 1 << 20, &rows)) {
        *error = "--rows: expected a comma-separated list of row numbers, got '" + value + "'";
        return false;
      }
      o.rows.assign(rows.begin(), rows.end());
    } else {
      *error = "unknown argument '" + arg + "'";
      return false;
    }
  }

  if (!o.spec.seqlens.empty()) {
    const int64_t n = static_cast<int64_t>(o.spec.seqlens.size());
    if (b_given && o.spec.b != n) {
      *error = "--seqlens: expected " + std::to_string(o.spec.b) + " lengths (--b), got " +
               std::to_string(n);
      return false;
    }
    o.spec.b = n;
    // s_k labels the shape in the report: the mean length.
    int64_t sum = 0;
    for (int32_t len : o.spec.seqlens) sum += len;
    o.spec.s_k = static_cast<int>((sum + n / 2) / n);
    o.spec.varlen = true;
  }
  if (o.spec.h_q % o.spec.h_kv != 0) {
    *error = "--h_kv: expected a divisor of h_q = " + std::to_string(o.spec.h_q) + ", got " +
             std::to_string(o.spec.h_kv);
    return false;
  }
  *opts = o;
  return true;
}

}  // namespace bench
