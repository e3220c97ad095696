#include "problem.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "flashmla/half.h"
#include "parallel.h"
#include "rng.h"

namespace bench {

namespace {

using flashmla::kHeadDimK;
using flashmla::kPageSize;

// Elements per independently seeded chunk: big enough to amortise seeding, small enough to share
// work evenly between threads.
constexpr int64_t kFillChunk = int64_t{1} << 16;

// Seed streams of the separate random draws of one problem.
enum SeedStream : uint64_t { kStreamLengths = 1, kStreamPages = 2, kStreamQ = 3, kStreamCache = 4 };

int64_t pages_of(int32_t len) { return len <= 0 ? 0 : (int64_t{len} + kPageSize - 1) / kPageSize; }

// Sizes the cache and the block table for p->seqlens (exactly the pages the sequences use) and
// returns the pages used. Both sizes stay at least 1 so that no tensor has a zero extent when
// every sequence is empty.
int64_t size_for_seqlens(HostProblem* p) {
  int64_t total_pages = 0;
  p->max_blocks_per_seq = 0;
  for (int32_t len : p->seqlens) {
    total_pages += pages_of(len);
    p->max_blocks_per_seq = std::max(p->max_blocks_per_seq, pages_of(len));
  }
  p->num_blocks = std::max<int64_t>(1, total_pages);
  p->max_blocks_per_seq = std::max<int64_t>(1, p->max_blocks_per_seq);
  return total_pages;
}

}  // namespace

void fill_random_half(uint16_t* data, int64_t n, flashmla::DType dtype, uint64_t seed) {
  const int64_t chunks = (n + kFillChunk - 1) / kFillChunk;
  parallel_for(chunks, 16, [=](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      Rng rng(mix_seed(seed, static_cast<uint64_t>(c)));
      const int64_t lo = c * kFillChunk;
      const int64_t hi = std::min(n, lo + kFillChunk);
      for (int64_t i = lo; i < hi; ++i) data[i] = flashmla::float_to_half(rng.fast_normal(), dtype);
    }
  });
}

const char* short_dtype_name(flashmla::DType dtype) {
  switch (dtype) {
    case flashmla::DType::kBFloat16:
      return "bf16";
    case flashmla::DType::kFloat16:
      return "fp16";
    default:
      return flashmla::dtype_name(dtype);
  }
}

std::string ProblemSpec::describe() const {
  std::string s = std::string(short_dtype_name(dtype)) + " b=" + std::to_string(b) +
                  " s_q=" + std::to_string(s_q) + " s_k=" + std::to_string(s_k) +
                  " h_q=" + std::to_string(h_q) + " h_kv=" + std::to_string(h_kv);
  if (!seqlens.empty()) {
    s += " seqlens=";
    for (size_t i = 0; i < seqlens.size(); ++i) {
      if (i == 8) {
        s += ",...";
        break;
      }
      s += (i ? "," : "") + std::to_string(seqlens[i]);
    }
  } else {
    s += varlen ? " varlen" : " fixed";
  }
  if (causal) s += " causal";
  return s;
}

std::vector<int32_t> make_seqlens(const ProblemSpec& spec) {
  if (!spec.seqlens.empty()) return spec.seqlens;
  std::vector<int32_t> lens(static_cast<size_t>(spec.b), spec.s_k);
  if (!spec.varlen) return lens;
  Rng rng(mix_seed(spec.seed, kStreamLengths));
  const double sd = spec.s_k / 4.0;
  for (int32_t& len : lens) {
    const double v = std::round(spec.s_k + sd * rng.normal());
    len = static_cast<int32_t>(std::max<double>(spec.s_q, v));
  }
  return lens;
}

int64_t HostProblem::total_kv_tokens() const {
  int64_t total = 0;
  for (int32_t len : seqlens) total += std::max<int32_t>(len, 0);
  return total;
}

HostProblem generate_problem(const ProblemSpec& spec) {
  HostProblem p;
  p.spec = spec;
  p.seqlens = make_seqlens(spec);
  const int64_t total_pages = size_for_seqlens(&p);

  // Pages in a random order, as a real cache allocator would leave them.
  std::vector<int32_t> perm(static_cast<size_t>(p.num_blocks));
  std::iota(perm.begin(), perm.end(), 0);
  Rng rng(mix_seed(spec.seed, kStreamPages));
  for (size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[rng.below(i)]);
  p.block_table.assign(static_cast<size_t>(spec.b * p.max_blocks_per_seq), 0);
  size_t next = 0;
  for (int64_t n = 0; n < spec.b; ++n) {
    for (int64_t j = 0; j < pages_of(p.seqlens[n]); ++j)
      p.block_table[n * p.max_blocks_per_seq + j] = perm[next++];
  }

  p.q.allocate(spec.b * spec.s_q * spec.h_q * kHeadDimK);
  fill_random_half(p.q.get(), p.q.size, spec.dtype, mix_seed(spec.seed, kStreamQ));
  p.k_cache.allocate(p.num_blocks * p.page_elems());
  fill_random_half(p.k_cache.get(), p.k_cache.size, spec.dtype, mix_seed(spec.seed, kStreamCache));

  // Slots past each length hold NaN: a kernel that lets one into the result shows it at once.
  const uint16_t nan = flashmla::half_quiet_nan(spec.dtype);
  const int64_t slot_elems = int64_t{spec.h_kv} * kHeadDimK;
  for (int64_t n = 0; n < spec.b; ++n) {
    const int64_t len = std::max<int32_t>(0, p.seqlens[n]);
    const int64_t pages = pages_of(p.seqlens[n]);
    if (pages == 0 || len == pages * kPageSize) continue;
    const int64_t page = p.block_table[n * p.max_blocks_per_seq + pages - 1];
    uint16_t* base = p.k_cache.get() + page * p.page_elems();
    std::fill(base + (len % kPageSize) * slot_elems, base + kPageSize * slot_elems, nan);
  }
  if (total_pages == 0) std::fill(p.k_cache.get(), p.k_cache.get() + p.k_cache.size, nan);
  return p;
}

HostProblem extract_sequences(const HostProblem& src, const std::vector<int64_t>& seqs) {
  HostProblem p;
  p.spec = src.spec;
  p.spec.b = static_cast<int64_t>(seqs.size());
  for (int64_t n : seqs) p.seqlens.push_back(src.seqlens[n]);
  p.spec.seqlens = p.seqlens;
  size_for_seqlens(&p);

  const int64_t q_elems = int64_t{src.spec.s_q} * src.spec.h_q * kHeadDimK;
  const int64_t page_elems = src.page_elems();
  p.q.allocate(p.spec.b * q_elems);
  p.k_cache.allocate(p.num_blocks * page_elems);
  std::fill(p.k_cache.get(), p.k_cache.get() + p.k_cache.size,
            flashmla::half_quiet_nan(src.spec.dtype));
  p.block_table.assign(static_cast<size_t>(p.spec.b * p.max_blocks_per_seq), 0);
  int32_t next = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const int64_t n = seqs[i];
    std::memcpy(p.q.get() + i * q_elems, src.q.get() + n * q_elems, q_elems * sizeof(uint16_t));
    for (int64_t j = 0; j < pages_of(src.seqlens[n]); ++j) {
      const int64_t from = src.block_table[n * src.max_blocks_per_seq + j];
      std::memcpy(p.k_cache.get() + next * page_elems, src.k_cache.get() + from * page_elems,
                  page_elems * sizeof(uint16_t));
      p.block_table[i * p.max_blocks_per_seq + j] = next++;
    }
  }
  return p;
}

}  // namespace bench
