#include "cpu/attend_piece.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace flashmla {
namespace cpu {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Independent partial sums let the compiler keep several vector accumulators in flight (a single
// float sum cannot be reordered without -ffast-math).
constexpr int kLanes = 16;
static_assert(kHeadDimK % kLanes == 0 && kHeadDimV % (2 * kLanes) == 0, "lane blocking");

// Scores of one query row against two keys at once, so each query element is loaded once per two
// products.
inline void dot2(const float* q, const float* k0, const float* k1, float* s0, float* s1) {
  float a[kLanes] = {};
  float b[kLanes] = {};
  for (int j = 0; j < kHeadDimK; j += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      a[l] += q[j + l] * k0[j + l];
      b[l] += q[j + l] * k1[j + l];
    }
  }
  float sa = 0.0f, sb = 0.0f;
  for (int l = 0; l < kLanes; ++l) {
    sa += a[l];
    sb += b[l];
  }
  *s0 = sa;
  *s1 = sb;
}

inline float dot1(const float* q, const float* k) {
  float a[kLanes] = {};
  for (int j = 0; j < kHeadDimK; j += kLanes) {
    for (int l = 0; l < kLanes; ++l) a[l] += q[j + l] * k[j + l];
  }
  float s = 0.0f;
  for (int l = 0; l < kLanes; ++l) s += a[l];
  return s;
}

// acc = acc * rescale + sum_t p[t] * V_t, one column block at a time so the block's accumulators
// stay in registers across the tokens.
inline void accumulate_pv(float* acc, float rescale, const float* p, const float* k, int count) {
  constexpr int kBlock = 2 * kLanes;
  for (int c0 = 0; c0 < kHeadDimV; c0 += kBlock) {
    float block[kBlock];
    for (int l = 0; l < kBlock; ++l) block[l] = acc[c0 + l] * rescale;
    for (int t = 0; t < count; ++t) {
      const float pt = p[t];
      const float* v = k + static_cast<size_t>(t) * kHeadDimK + c0;
      for (int l = 0; l < kBlock; ++l) block[l] += pt * v[l];
    }
    for (int l = 0; l < kBlock; ++l) acc[c0 + l] = block[l];
  }
}

}  // namespace

PieceScratch::PieceScratch(int q_rows)
    : q(static_cast<size_t>(q_rows) * kHeadDimK),
      k(static_cast<size_t>(kPageSize) * kHeadDimK),
      acc(static_cast<size_t>(q_rows) * kHeadDimV),
      row_max(static_cast<size_t>(q_rows)),
      row_sum(static_cast<size_t>(q_rows)),
      p(kPageSize) {}

void attend_piece(const DecodeInputs& in, const Piece& piece, PieceScratch* scratch) {
  const DecodeShape& shape = in.shape;
  const int q_rows = shape.q_rows;
  const int64_t seq = piece.seq;
  const int64_t seqlen = std::max<int64_t>(0, in.seqlens[seq]);
  const float scale = shape.softmax_scale;

  // Keys a row may see end before this token (exclusive); <= 0 when the row sees none.
  auto visible_end = [&](int row) -> int64_t {
    if (!shape.causal) return seqlen;
    return seqlen - shape.s_q + in.token_of_row(row) + 1;
  };
  int64_t max_visible = 0;
  for (int r = 0; r < q_rows; ++r) max_visible = std::max(max_visible, visible_end(r));

  float* qf = scratch->q.data();
  for (int r = 0; r < q_rows; ++r) {
    // The scale is folded into Q once instead of into every score.
    in.widen(in.q_row(seq, piece.kv_head, r), kHeadDimK, scale,
             qf + static_cast<size_t>(r) * kHeadDimK);
  }
  std::fill(scratch->acc.begin(), scratch->acc.end(), 0.0f);
  std::fill(scratch->row_max.begin(), scratch->row_max.end(), -kInf);
  std::fill(scratch->row_sum.begin(), scratch->row_sum.end(), 0.0f);

  float* kf = scratch->k.data();
  float* p = scratch->p.data();
  for (int64_t page = piece.page_begin; page < piece.page_end; ++page) {
    const int64_t first = page * kPageSize;
    // Slots past the sequence, or hidden from every row, are never converted: they may hold NaN.
    const int64_t last = std::min({first + kPageSize, seqlen, max_visible});
    if (last <= first) break;
    const int count = static_cast<int>(last - first);
    const int64_t page_id = in.page_id(seq, page);
    for (int t = 0; t < count; ++t) {
      in.widen(in.key(page_id, t, piece.kv_head), kHeadDimK, 1.0f,
               kf + static_cast<size_t>(t) * kHeadDimK);
    }

    for (int r = 0; r < q_rows; ++r) {
      const int n = static_cast<int>(std::min<int64_t>(count, visible_end(r) - first));
      if (n <= 0) continue;
      const float* qr = qf + static_cast<size_t>(r) * kHeadDimK;
      int t = 0;
      for (; t + 1 < n; t += 2) {
        dot2(qr, kf + static_cast<size_t>(t) * kHeadDimK,
             kf + static_cast<size_t>(t + 1) * kHeadDimK, &p[t], &p[t + 1]);
      }
      if (t < n) p[t] = dot1(qr, kf + static_cast<size_t>(t) * kHeadDimK);

      float page_max = p[0];
      for (int i = 1; i < n; ++i) page_max = std::max(page_max, p[i]);
      const float old_max = scratch->row_max[r];
      const float new_max = std::max(old_max, page_max);
      // exp(-inf) = 0 on the first page: the accumulators are still exactly zero then.
      const float rescale = std::exp(old_max - new_max);
      float sum = 0.0f;
      for (int i = 0; i < n; ++i) {
        p[i] = std::exp(p[i] - new_max);
        sum += p[i];
      }
      scratch->row_max[r] = new_max;
      scratch->row_sum[r] = scratch->row_sum[r] * rescale + sum;
      accumulate_pv(scratch->acc.data() + static_cast<size_t>(r) * kHeadDimV, rescale, p, kf, n);
    }
  }

  const bool single_split = in.num_splits[seq + 1] - in.num_splits[seq] == 1;
  const int64_t slot = in.num_splits[seq] + piece.split;
  for (int r = 0; r < q_rows; ++r) {
    const float sum = scratch->row_sum[r];
    const float* acc = scratch->acc.data() + static_cast<size_t>(r) * kHeadDimV;
    // A row that saw a key has sum >= 1 (its maximum contributes exp(0)).
    const bool saw_key = sum > 0.0f;
    const float row_lse = saw_key ? scratch->row_max[r] + std::log(sum) : 0.0f;
    if (single_split) {
      if (saw_key) {
        in.store_final(seq, piece.kv_head, r, acc, 1.0f / sum, row_lse);
      } else {
        in.store_final(seq, piece.kv_head, r, nullptr, 0.0f, kInf);
      }
      continue;
    }
    float* dst = in.splits->out(slot, piece.kv_head, r);
    if (saw_key) {
      const float inv = 1.0f / sum;
      for (int c = 0; c < kHeadDimV; ++c) dst[c] = acc[c] * inv;
    } else {
      std::fill(dst, dst + kHeadDimV, 0.0f);
    }
    *in.splits->lse(slot, piece.kv_head, r) = saw_key ? row_lse : -kInf;
  }
}

}  // namespace cpu
}  // namespace flashmla
