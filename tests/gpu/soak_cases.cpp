#include "gpu/soak_cases.h"

#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

namespace flashmla {
namespace test {

namespace {

// Caps per case. Host problem building draws a normal per cache element (~10 ns each), and the CPU
// reference costs ~2 * s_q * h_q * tokens * 1088 FLOP at tens of GFLOP/s.
constexpr int64_t kMaxCacheTokens = 160 * 1024;  // tokens * h_kv
constexpr int64_t kMaxRowTokens = 16 << 20;      // tokens * s_q * h_q

constexpr int kHeads[] = {16, 32, 64, 128};

int64_t uniform(std::mt19937_64& rng, int64_t lo, int64_t hi) {  // inclusive
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

bool chance(std::mt19937_64& rng, double p) {
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng) < p;
}

// A length for edge mode: the page boundaries, lengths shorter than s_q (rows that see no key
// under the causal mask), or a short random one.
int32_t edge_length(std::mt19937_64& rng, int s_q) {
  switch (uniform(rng, 0, 7)) {
    case 0:
      return 0;
    case 1:
      return 1;
    case 2:
      return 63;
    case 3:
      return 64;
    case 4:
      return 65;
    case 5:
      return static_cast<int32_t>(uniform(rng, 0, s_q - 1));  // < s_q
    case 6:
      return static_cast<int32_t>(64 * uniform(rng, 1, 8) + uniform(rng, -1, 1));
    default:
      return static_cast<int32_t>(uniform(rng, 0, 1000));
  }
}

int32_t huge_length(std::mt19937_64& rng) {
  return static_cast<int32_t>(uniform(rng, 64 * 1024, 64 * 1024 + 40000));
}

void draw_lengths(std::mt19937_64& rng, SoakCase* c) {
  ProblemSpec& s = c->spec;
  std::vector<int32_t>& lens = s.seqlens;
  lens.clear();
  const int mode = static_cast<int>(uniform(rng, 0, 9));
  if (mode <= 3) {
    c->length_mode = "edge";
    for (int64_t n = 0; n < s.b; ++n) lens.push_back(edge_length(rng, s.s_q));
  } else if (mode <= 5) {
    c->length_mode = "short";
    for (int64_t n = 0; n < s.b; ++n) lens.push_back(static_cast<int32_t>(uniform(rng, 0, 2048)));
  } else if (mode <= 7) {
    c->length_mode = "normal";
    const double mean = static_cast<double>(uniform(rng, 256, 8192));
    std::normal_distribution<double> len(mean, mean / 4.0);
    for (int64_t n = 0; n < s.b; ++n)
      lens.push_back(static_cast<int32_t>(std::clamp(std::round(len(rng)), 0.0, 2.0 * mean)));
  } else if (mode == 8) {
    c->length_mode = "one-huge-among-short";
    for (int64_t n = 0; n < s.b; ++n) lens.push_back(static_cast<int32_t>(uniform(rng, 0, 300)));
    lens[static_cast<size_t>(uniform(rng, 0, s.b - 1))] = huge_length(rng);
  } else {
    c->length_mode = "long";
    s.b = uniform(rng, 1, 2);
    for (int64_t n = 0; n < s.b; ++n) lens.push_back(huge_length(rng));
  }
}

bool within_budget(const ProblemSpec& s) {
  int64_t tokens = 0;
  for (int32_t len : s.seqlens) tokens += len;
  return tokens * s.h_kv <= kMaxCacheTokens && tokens * s.s_q * s.h_q <= kMaxRowTokens;
}

}  // namespace

SoakCase random_soak_case(uint64_t seed) {
  std::mt19937_64 rng(seed);
  SoakCase c;
  // Redraw until the case fits the caps; the big length modes then come with small head counts.
  do {
    ProblemSpec& s = c.spec;
    s = ProblemSpec();
    s.seed = rng();
    s.b = chance(rng, 0.3) ? uniform(rng, 1, 4) : uniform(rng, 1, 64);
    s.s_q = chance(rng, 0.5) ? 1 : static_cast<int>(uniform(rng, 2, 8));
    s.causal = s.s_q > 1;
    s.h_q = kHeads[uniform(rng, 0, 3)];
    s.h_kv = chance(rng, 0.25) ? 2 : 1;
    s.dtype = chance(rng, 0.5) ? DType::kBFloat16 : DType::kFloat16;
    s.softmax_scale =
        chance(rng, 0.2) ? std::uniform_real_distribution<float>(0.02f, 0.2f)(rng) : 0.0f;
    s.spare_pages = static_cast<int>(uniform(rng, 0, 5));
    s.extra_table_columns = static_cast<int>(uniform(rng, 0, 3));
    if (chance(rng, 0.2)) {
      s.q_head_pad = static_cast<int>(8 * uniform(rng, 0, 8));
      s.k_token_pad = static_cast<int>(8 * uniform(rng, 0, 72));
      s.table_row_pad = static_cast<int>(uniform(rng, 0, 7));
    }
    draw_lengths(rng, &c);
  } while (!within_budget(c.spec));
  c.graph = chance(rng, 0.1);
  c.replays = c.graph ? static_cast<int>(uniform(rng, 1, 3)) : 1;
  return c;
}

std::string describe(const SoakCase& c) {
  const ProblemSpec& s = c.spec;
  std::string lens;
  const size_t shown = std::min<size_t>(s.seqlens.size(), 12);
  int64_t total = 0;
  for (int32_t len : s.seqlens) total += len;
  for (size_t i = 0; i < shown; ++i) lens += (i ? "," : "") + std::to_string(s.seqlens[i]);
  if (shown < s.seqlens.size()) lens += ",...";
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "b=%lld s_q=%d h_q=%d h_kv=%d %s%s lengths(%s, %lld tokens)=[%s] "
                "pads(q_head=%d k_token=%d table_row=%d) scale=%g spare_pages=%d "
                "extra_columns=%d%s",
                static_cast<long long>(s.b), s.s_q, s.h_q, s.h_kv, dtype_name(s.dtype),
                s.causal ? " causal" : "", c.length_mode, static_cast<long long>(total),
                lens.c_str(), s.q_head_pad, s.k_token_pad, s.table_row_pad, s.softmax_scale,
                s.spare_pages, s.extra_table_columns,
                c.graph ? (" graph x" + std::to_string(c.replays)).c_str() : "");
  return buf;
}

}  // namespace test
}  // namespace flashmla
