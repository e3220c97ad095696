// The backend's kernel choices that depend on the shape and on the device: which kernel serves
// how many query rows (wants_narrow, wants_seesaw), which step order the seesaw kernel runs
// (SeesawOptions, resolve_schedule) and the device property it reads for it.
#include <gtest/gtest.h>

#include "gpu/gpu_support.h"
#include "sm90/combine_plan.h"
#include "sm90/decode_launch.h"
#include "sm90/seesaw_launch.h"
#include "sm90/sm90_backend.h"

namespace flashmla {
namespace test {
namespace {

using sm90::KernelChoice;
using sm90::SeesawOptions;
using sm90::SeesawSchedule;

constexpr int kRowsPerTile = 64;

SeesawSchedule resolve(double gbs_per_sm, int q_rows, SeesawSchedule requested = SeesawSchedule::kAuto) {
  SeesawOptions o;
  o.schedule = requested;
  o.peak_gbs_per_sm = gbs_per_sm;
  return sm90::resolve_schedule(o, q_rows, kRowsPerTile);
}

TEST(KernelChoice, DefaultSendsEachRowCountToOneKernel) {
  // H100 SXM (25.4 GB/s per SM), unknown bandwidth, H200 (37.3).
  for (double gbs : {25.4, 0.0, 37.3}) {
    const int narrow_max = gbs < sm90::kNarrowDualMaxGbsPerSm ? 64 : 32;
    for (int q_rows = 1; q_rows <= 256; ++q_rows) {
      const bool narrow = sm90::wants_narrow(KernelChoice::kAuto, q_rows, gbs);
      const bool seesaw = sm90::wants_seesaw(KernelChoice::kAuto, q_rows, gbs);
      EXPECT_EQ(narrow, q_rows <= narrow_max) << q_rows << " rows at " << gbs << " GB/s per SM";
      EXPECT_EQ(seesaw, q_rows > narrow_max) << q_rows << " rows at " << gbs << " GB/s per SM";
    }
  }
}

TEST(KernelChoice, ComparisonChoicesOverrideTheDefault) {
  for (double gbs : {25.4, 37.3}) {
    for (int q_rows : {1, 16, 17, 32, 33, 64, 128}) {
      EXPECT_EQ(sm90::wants_narrow(KernelChoice::kNarrow, q_rows, gbs), q_rows <= 64) << q_rows;
      EXPECT_EQ(sm90::wants_seesaw(KernelChoice::kNarrow, q_rows, gbs), q_rows > 64) << q_rows;
      EXPECT_TRUE(sm90::wants_seesaw(KernelChoice::kSeesawAll, q_rows, gbs)) << q_rows;
      for (KernelChoice c : {KernelChoice::kSeesawAll, KernelChoice::kMma, KernelChoice::kWgmma}) {
        EXPECT_FALSE(sm90::wants_narrow(c, q_rows, gbs)) << q_rows;
      }
      EXPECT_FALSE(sm90::wants_seesaw(KernelChoice::kMma, q_rows, gbs)) << q_rows;
      EXPECT_FALSE(sm90::wants_seesaw(KernelChoice::kWgmma, q_rows, gbs)) << q_rows;
    }
  }
}

TEST(KernelChoice, OneRowTileRunsSoftmaxFirstBelowTheBandwidthThreshold) {
  for (int q_rows : {33, 64}) {
    EXPECT_EQ(resolve(25.4, q_rows), SeesawSchedule::kSoftmaxFirst) << q_rows;  // H100 SXM
    EXPECT_EQ(resolve(0.0, q_rows), SeesawSchedule::kSoftmaxFirst) << q_rows;   // unknown
    EXPECT_EQ(resolve(37.3, q_rows), SeesawSchedule::kOtherPageFirst) << q_rows;  // H200
  }
}

TEST(KernelChoice, SeveralRowTilesRunOtherPageFirstOnEveryDevice) {
  for (int q_rows : {65, 128, 256})
    for (double gbs : {0.0, 25.4, 37.3}) EXPECT_EQ(resolve(gbs, q_rows), SeesawSchedule::kOtherPageFirst);
}

TEST(KernelChoice, AnExplicitScheduleIsKept) {
  for (SeesawSchedule s : {SeesawSchedule::kOwnPageFirst, SeesawSchedule::kSoftmaxFirst,
                           SeesawSchedule::kOtherPageFirst})
    for (int q_rows : {64, 128}) EXPECT_EQ(resolve(37.3, q_rows, s), s);
}

TEST(KernelChoice, DevicePeakBandwidthPerSmIsPlausible) {
  REQUIRE_HOPPER();
  // Hopper parts range from about 15 (H100 PCIe) to about 52 (H20) GB/s per SM.
  const double gbs = sm90::device_peak_gbs_per_sm(0);
  EXPECT_GT(gbs, 10.0);
  EXPECT_LT(gbs, 80.0);
  EXPECT_EQ(sm90::device_peak_gbs_per_sm(-1), 0.0);
}

TEST(KernelChoice, CombineGivesSmallBatchesEightWarpsPerRow) {
  // b = 1, 128 rows: 64 blocks of one warp per row would leave half of 132 SMs idle.
  EXPECT_EQ(sm90::combine_warps_per_row(1, 1, 128, 132), sm90::kCombineWarps);
  EXPECT_EQ(sm90::combine_warps_per_row(4, 1, 64, 132), sm90::kCombineWarps);
  // Full batches: thousands of blocks with one warp per row.
  EXPECT_EQ(sm90::combine_warps_per_row(128, 1, 64, 132), 1);
  EXPECT_EQ(sm90::combine_warps_per_row(32, 1, 128, 132), 1);
  EXPECT_EQ(sm90::combine_rows_per_block(1), sm90::kCombineWarps);
  EXPECT_EQ(sm90::combine_rows_per_block(sm90::kCombineWarps), 1);
  // One warp per row takes the whole row; eight share a 128-column part.
  EXPECT_EQ(sm90::combine_column_parts(1), 1);
  EXPECT_EQ(sm90::combine_column_parts(sm90::kCombineWarps), sm90::kCombineColumnParts);
}

}  // namespace
}  // namespace test
}  // namespace flashmla
