// Property tests of the host scheduler (the executable specification of the split plan).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/scheduler.h"

namespace flashmla {
namespace {

using namespace scheduler;  // NOLINT: the field names read better unqualified here

struct Plan {
  std::vector<int32_t> metadata;
  std::vector<int32_t> num_splits;
  bool ok = false;
};

Plan plan(const std::vector<int32_t>& lens, int parts, int q_rows = 16, int h_kv = 1) {
  Plan p;
  p.metadata.assign(static_cast<size_t>(parts) * kMetadataFields, -12345);
  p.num_splits.assign(lens.size() + 1, -12345);
  p.ok = plan_on_host(lens.data(), static_cast<int64_t>(lens.size()), parts, q_rows, h_kv,
                      p.metadata.data(), p.num_splits.data());
  return p;
}

// Checks every property of a plan; returns a description of the first violation, or "".
std::string check_plan(const std::vector<int32_t>& lens, int parts, const Plan& p, int q_rows,
                       int h_kv) {
  const int64_t b = static_cast<int64_t>(lens.size());
  if (!p.ok) return "plan_on_host returned false";
  int64_t total_cost = 0;
  for (int32_t len : lens) total_cost += pages_of(len) + kFixedOverheadPages;
  const int64_t payload = payload_of(total_cost, parts);

  // Per sequence: pieces seen so far, next page expected.
  std::vector<int64_t> pieces(static_cast<size_t>(b), 0);
  std::vector<int64_t> next_page(static_cast<size_t>(b), 0);
  int64_t last_seq_started = -1;
  for (int part = 0; part < parts; ++part) {
    const int32_t* row = &p.metadata[static_cast<size_t>(part) * kMetadataFields];
    const std::string where = "part " + std::to_string(part) + ": ";
    if (row[kStampBatch] != b) return where + "batch stamp " + std::to_string(row[kStampBatch]);
    if (row[kStampRows] != q_rows) return where + "rows stamp " + std::to_string(row[kStampRows]);
    if (row[kStampHeadsKV] != h_kv)
      return where + "h_kv stamp " + std::to_string(row[kStampHeadsKV]);
    const int64_t begin = row[kBeginSeq], end = row[kEndSeq];
    if (end < begin) {
      if (begin != b || end != b - 1) {
        return where + "empty part not encoded as (b, b-1): (" + std::to_string(begin) + ", " +
               std::to_string(end) + ")";
      }
      continue;
    }
    if (begin < 0 || end >= b) return where + "sequence range out of bounds";
    int64_t cost = 0;
    for (int64_t seq = begin; seq <= end; ++seq) {
      const int64_t total = pages_of(lens[static_cast<size_t>(seq)]);
      const int64_t first = seq == begin ? row[kBeginPage] : 0;
      const int64_t last = seq == end ? row[kEndPage] : total;
      const int64_t split = seq == begin ? row[kBeginSplit] : 0;
      const std::string piece = where + "seq " + std::to_string(seq) + ": ";
      // Pages are covered in order, each exactly once: a piece starts where the last one stopped.
      if (first != next_page[static_cast<size_t>(seq)]) {
        return piece + "starts at page " + std::to_string(first) + ", expected " +
               std::to_string(next_page[static_cast<size_t>(seq)]);
      }
      if (last < first || last > total) return piece + "bad end page " + std::to_string(last);
      // A piece other than a whole empty sequence covers at least one page.
      if (last == first && total != 0) return piece + "empty piece";
      if (split != pieces[static_cast<size_t>(seq)]) {
        return piece + "split index " + std::to_string(split) + ", expected " +
               std::to_string(pieces[static_cast<size_t>(seq)]);
      }
      if (seq < last_seq_started) return piece + "sequences out of order";
      last_seq_started = seq;
      ++pieces[static_cast<size_t>(seq)];
      next_page[static_cast<size_t>(seq)] = last;
      cost += (last - first) + kFixedOverheadPages;
    }
    if (cost > payload) {
      return where + "cost " + std::to_string(cost) + " > payload " + std::to_string(payload);
    }
  }
  if (p.num_splits[0] != 0) return "num_splits[0] != 0";
  int64_t total_splits = 0;
  for (int64_t seq = 0; seq < b; ++seq) {
    const int64_t total = pages_of(lens[static_cast<size_t>(seq)]);
    if (next_page[static_cast<size_t>(seq)] != total) {
      return "seq " + std::to_string(seq) + ": covered " +
             std::to_string(next_page[static_cast<size_t>(seq)]) + " of " + std::to_string(total) +
             " pages";
    }
    if (pieces[static_cast<size_t>(seq)] < 1)
      return "seq " + std::to_string(seq) + " never visited";
    const int64_t splits =
        p.num_splits[static_cast<size_t>(seq + 1)] - p.num_splits[static_cast<size_t>(seq)];
    if (splits != pieces[static_cast<size_t>(seq)]) {
      return "seq " + std::to_string(seq) + ": num_splits says " + std::to_string(splits) +
             ", plan has " + std::to_string(pieces[static_cast<size_t>(seq)]) + " pieces";
    }
    total_splits += splits;
  }
  if (total_splits > b + parts - 1) {
    return "total splits " + std::to_string(total_splits) + " > b + parts - 1";
  }
  return "";
}

std::vector<int32_t> random_lengths(std::mt19937_64& rng, int64_t b, int kind) {
  std::vector<int32_t> lens(static_cast<size_t>(b));
  std::uniform_int_distribution<int32_t> small(0, 300);
  std::uniform_int_distribution<int32_t> medium(0, 20000);
  std::uniform_int_distribution<int> pick(0, 9);
  for (int32_t& len : lens) {
    switch (kind) {
      case 0:
        len = small(rng);
        break;
      case 1:
        len = medium(rng);
        break;
      case 2:
        len = pick(rng) < 3 ? 0 : small(rng);
        break;  // many empty sequences
      default: {
        // Mostly short, now and then huge (up to the int32 limit).
        const int r = pick(rng);
        len = r == 0   ? std::numeric_limits<int32_t>::max() - static_cast<int32_t>(small(rng))
              : r == 1 ? 1 << 20
                       : small(rng);
      }
    }
  }
  return lens;
}

TEST(Scheduler, RandomPlansSatisfyEveryProperty) {
  std::mt19937_64 rng(20240601);
  const int64_t batches[] = {1, 2, 3, 7, 64, 129, 4096};
  int plans = 0;
  for (int64_t b : batches) {
    for (int kind = 0; kind < 4; ++kind) {
      for (int trial = 0; trial < (b >= 4096 ? 4 : 25); ++trial) {
        const std::vector<int32_t> lens = random_lengths(rng, b, kind);
        const int parts = std::uniform_int_distribution<int>(1, 200)(rng);
        const int q_rows = std::uniform_int_distribution<int>(1, 1024)(rng);
        const int h_kv = std::uniform_int_distribution<int>(1, 2)(rng);
        const Plan p = plan(lens, parts, q_rows, h_kv);
        const std::string error = check_plan(lens, parts, p, q_rows, h_kv);
        ASSERT_EQ(error, "") << "b=" << b << " kind=" << kind << " parts=" << parts;
        ++plans;
      }
    }
  }
  RecordProperty("plans_checked", plans);
}

TEST(Scheduler, EdgeShapes) {
  const std::vector<std::vector<int32_t>> cases = {
      {0},
      {1},
      {64},
      {65},
      {0, 0, 0, 0},
      {std::numeric_limits<int32_t>::max()},
      {std::numeric_limits<int32_t>::max(), 0, 1},
      {70000, 3, 100, 0, 64},
      std::vector<int32_t>(4096, 0),
      std::vector<int32_t>(4096, 1 << 16),
  };
  for (const auto& lens : cases) {
    for (int parts : {1, 2, 3, 17, 132, 200}) {
      const Plan p = plan(lens, parts);
      EXPECT_EQ(check_plan(lens, parts, p, 16, 1), "")
          << "b=" << lens.size() << " first len " << lens[0] << " parts=" << parts;
    }
  }
}

TEST(Scheduler, LongSequenceIsSplitAcrossParts) {
  // One 1 M-token sequence (16384 pages) over 132 parts: each part gets about 1/132 of it.
  const std::vector<int32_t> lens = {1 << 20};
  const Plan p = plan(lens, 132);
  ASSERT_EQ(check_plan(lens, 132, p, 16, 1), "");
  EXPECT_GE(p.num_splits[1], 100);
  EXPECT_LE(p.num_splits[1], 132);
}

TEST(Scheduler, MorePartsThanWorkLeavesEmptyParts) {
  const std::vector<int32_t> lens = {1, 2};
  const Plan p = plan(lens, 50);
  ASSERT_EQ(check_plan(lens, 50, p, 16, 1), "");
  int empty = 0;
  for (int part = 0; part < 50; ++part) {
    const int32_t* row = &p.metadata[static_cast<size_t>(part) * kMetadataFields];
    empty += row[kEndSeq] < row[kBeginSeq] ? 1 : 0;
  }
  EXPECT_GE(empty, 48);
  EXPECT_EQ(p.num_splits[2], 2);
}

TEST(Scheduler, RejectsNonPositiveCounts) {
  int32_t len = 10, meta[kMetadataFields], splits[2];
  EXPECT_FALSE(plan_on_host(&len, 0, 4, 16, 1, meta, splits));
  EXPECT_FALSE(plan_on_host(&len, 1, 0, 16, 1, meta, splits));
}

}  // namespace
}  // namespace flashmla
