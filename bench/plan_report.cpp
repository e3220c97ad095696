// flashmla-bench --plan: the split plan (core/scheduler.h) of each grid row, made on the host
// exactly as the GPU metadata kernel makes it, and what it implies for the decode: how many
// splits (and so how much combine work), how many pieces each part walks, and how even the parts'
// work is. A part's time is modelled as its pages plus one page per piece; the decode ends with
// its slowest part, so max / mean of that model is the time lost to the plan's imbalance.
#include <algorithm>
#include <cstdio>
#include <vector>

#include "core/scheduler.h"
#include "flashmla/flashmla.h"
#include "grid.h"
#include "modes.h"

namespace bench {

namespace {

struct PlanStats {
  bool ok = false;  // the plan was made and covers every page exactly once
  int parts = 0;
  int64_t splits = 0;
  int pieces_hist[4] = {0, 0, 0, 0};  // parts holding 0, 1, 2, 3+ pieces
  double mean_pages = 0.0;
  int64_t max_pages = 0;
  double balance = 0.0;    // max / mean of (pages + pieces) over the parts
  double page_fill = 0.0;  // tokens / (64 * pages): the share of loaded page slots that hold keys
};

PlanStats plan_stats(const std::vector<int32_t>& lens, int q_rows, int h_kv, int sms) {
  PlanStats st;
  const int64_t b = static_cast<int64_t>(lens.size());
  st.parts = flashmla::num_sm_parts_for_sm_count(sms, q_rows, h_kv);
  std::vector<int32_t> meta(static_cast<size_t>(st.parts) * flashmla::kMetadataFields);
  std::vector<int32_t> splits(static_cast<size_t>(b + 1));
  if (!flashmla::scheduler::plan_on_host(lens.data(), b, st.parts, q_rows, h_kv, meta.data(), splits.data()))
    return st;
  st.splits = splits[static_cast<size_t>(b)];
  int64_t total_pages = 0, tokens = 0;
  double max_cost = 0.0, total_cost = 0.0;
  for (int p = 0; p < st.parts; ++p) {
    const int32_t* row = meta.data() + static_cast<size_t>(p) * flashmla::kMetadataFields;
    int64_t pages = 0, pieces = 0;
    for (int64_t s = row[flashmla::scheduler::kBeginSeq]; s <= row[flashmla::scheduler::kEndSeq]; ++s) {
      const int64_t seq_pages = flashmla::scheduler::pages_of(lens[static_cast<size_t>(s)]);
      const int64_t first = s == row[flashmla::scheduler::kBeginSeq] ? row[flashmla::scheduler::kBeginPage] : 0;
      const int64_t last = s == row[flashmla::scheduler::kEndSeq] ? row[flashmla::scheduler::kEndPage] : seq_pages;
      pages += last - first;
      ++pieces;
    }
    st.pieces_hist[std::min<int64_t>(pieces, 3)]++;
    st.max_pages = std::max(st.max_pages, pages);
    total_pages += pages;
    const double cost = static_cast<double>(pages + pieces);
    max_cost = std::max(max_cost, cost);
    total_cost += cost;
  }
  int64_t expected_pages = 0;
  for (int32_t len : lens) {
    tokens += std::max<int32_t>(len, 0);
    expected_pages += flashmla::scheduler::pages_of(len);
  }
  st.ok = total_pages == expected_pages;
  st.mean_pages = static_cast<double>(total_pages) / st.parts;
  st.balance = total_cost > 0 ? max_cost / (total_cost / st.parts) : 0.0;
  st.page_fill = total_pages > 0 ? static_cast<double>(tokens) / (64.0 * static_cast<double>(total_pages)) : 0.0;
  return st;
}

}  // namespace

int run_plan_report(const Options& opts) {
  const std::vector<GridConfig> grid = design_grid();
  std::vector<int> rows = opts.rows;
  if (rows.empty()) {
    for (size_t i = 0; i < grid.size(); ++i) rows.push_back(static_cast<int>(i));
  }
  std::printf("split plans for %d SMs (pieces: parts holding 0/1/2/3+ pieces; balance: max/mean of pages + pieces)\n",
              opts.sms);
  std::printf("%4s %4s %4s %6s %4s %-6s %6s %6s %-15s %8s %6s %8s %9s\n", "row", "b", "s_q", "s_k", "h_q",
              "varlen", "parts", "splits", "pieces", "pages", "max", "balance", "page fill");
  for (int r : rows) {
    if (r < 0 || static_cast<size_t>(r) >= grid.size()) {
      std::fprintf(stderr, "flashmla-bench: --rows: expected row numbers in [0, %zu), got %d\n", grid.size(), r);
      return 2;
    }
    const ProblemSpec& s = grid[static_cast<size_t>(r)].spec;
    const PlanStats st = plan_stats(make_seqlens(s), s.s_q * (s.h_q / s.h_kv), s.h_kv, opts.sms);
    if (!st.ok) {
      std::fprintf(stderr, "flashmla-bench: row %d: the plan does not cover every page exactly once\n", r);
      return 1;
    }
    char pieces[32];
    std::snprintf(pieces, sizeof(pieces), "%d/%d/%d/%d", st.pieces_hist[0], st.pieces_hist[1], st.pieces_hist[2],
                  st.pieces_hist[3]);
    std::printf("%4d %4lld %4d %6d %4d %-6s %6d %6lld %-15s %8.1f %6lld %8.3f %9.4f\n", r,
                static_cast<long long>(s.b), s.s_q, s.s_k, s.h_q, s.varlen || !s.seqlens.empty() ? "yes" : "no",
                st.parts, static_cast<long long>(st.splits), pieces, st.mean_pages,
                static_cast<long long>(st.max_pages), st.balance, st.page_fill);
  }
  return 0;
}

}  // namespace bench
