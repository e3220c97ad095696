// Every error path of the public API's argument checking: each test breaks one property of an
// otherwise valid CPU call and checks the status code, that the message names the argument with
// its expected and actual values, and that nothing was written to the outputs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/validate.h"
#include "flashmla/flashmla.h"
#include "validation_fixture.h"

namespace flashmla {
namespace validation_test {
namespace {

constexpr Device kCuda0{DeviceType::kCUDA, 0};

::testing::AssertionResult IsError(const Status& status, StatusCode code,
                                   const std::vector<std::string>& needles) {
  if (status.code() != code) {
    return ::testing::AssertionFailure()
           << "expected \"" << status_code_name(code) << "\", got " << status.to_string();
  }
  for (const std::string& needle : needles) {
    if (status.message().find(needle) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "message lacks \"" << needle << "\": " << status.message();
    }
  }
  return ::testing::AssertionSuccess();
}

// True when this build has no CUDA backend (the tests of that case make no sense otherwise).
bool built_without_cuda() {
  int parts = 0;
  const Status st = get_num_sm_parts(kCuda0, 8, 1, &parts);
  return st.code() == StatusCode::kUnsupportedDevice &&
         st.message().find("no CUDA backend") != std::string::npos;
}

// ---------------------------------------------------------------------------------------------
// mla_decode_with_kvcache
// ---------------------------------------------------------------------------------------------

class DecodeValidation : public ::testing::Test {
 protected:
  void SetUp() override {
    const Status st = f.plan();
    ASSERT_TRUE(st.ok()) << st.to_string();
    args = f.decode_args();
  }

  // Runs the call on poisoned outputs and checks the rejection and that out/lse are untouched.
  void ExpectRejected(StatusCode code, const std::vector<std::string>& needles) {
    f.poison_outputs();
    const Status st = mla_decode_with_kvcache(args);
    EXPECT_TRUE(IsError(st, code, needles));
    EXPECT_TRUE(f.out_untouched()) << "out was written by a rejected call";
    EXPECT_TRUE(f.lse_untouched()) << "lse was written by a rejected call";
  }
  void ExpectInvalidArgument(const std::vector<std::string>& needles) {
    ExpectRejected(StatusCode::kInvalidArgument, needles);
  }
  void ExpectInvalidData(const std::vector<std::string>& needles) {
    ExpectRejected(StatusCode::kInvalidInputData, needles);
  }

  DecodeFixture f;
  DecodeArgs args;
};

// --- Valid calls --------------------------------------------------------------------------------

TEST_F(DecodeValidation, ValidCallSucceedsAndWritesOutputs) {
  f.poison_outputs();
  const Status st = mla_decode_with_kvcache(args);
  ASSERT_TRUE(st.ok()) << st.to_string();
  EXPECT_FALSE(f.out_untouched());
  EXPECT_TRUE(f.lse_fully_written());
}

TEST_F(DecodeValidation, PaddingEntriesOfBlockTableAreNotChecked) {
  // Sequence 2 has one page; entries after it may hold anything.
  const int64_t max_blocks = f.config().max_blocks;
  for (int64_t j = 1; j < max_blocks; ++j) f.block_table[2 * max_blocks + j] = 1 << 30;
  f.block_table[1 * max_blocks] = -5;  // sequence 1 is empty
  const Status st = mla_decode_with_kvcache(args);
  EXPECT_TRUE(st.ok()) << st.to_string();
}

TEST_F(DecodeValidation, StridedQueryRowsAreAcceptedAndReadCorrectly) {
  const Status reference = mla_decode_with_kvcache(args);
  ASSERT_TRUE(reference.ok()) << reference.to_string();
  const std::vector<uint16_t> expected_out = f.out;
  const std::vector<float> expected_lse = f.lse;

  // The same q with every head row padded to 640 elements.
  constexpr int64_t kPadded = 640;
  const ProblemConfig& c = f.config();
  std::vector<uint16_t> padded(static_cast<size_t>(c.batch * c.s_q * c.h_q * kPadded), 0xFFFF);
  for (int64_t r = 0; r < c.batch * c.s_q * c.h_q; ++r) {
    std::copy_n(f.q.begin() + r * kHeadDimK, kHeadDimK, padded.begin() + r * kPadded);
  }
  args.q.data = padded.data();
  args.q.stride[2] = kPadded;
  args.q.stride[1] = c.h_q * kPadded;
  args.q.stride[0] = c.s_q * c.h_q * kPadded;
  f.poison_outputs();
  const Status st = mla_decode_with_kvcache(args);
  ASSERT_TRUE(st.ok()) << st.to_string();
  EXPECT_EQ(f.out, expected_out);
  EXPECT_EQ(f.lse, expected_lse);
}

TEST_F(DecodeValidation, CpuAcceptsAnyNumberOfParts) {
  for (int parts : {1, 2, 7, 64}) {
    SCOPED_TRACE("parts = " + std::to_string(parts));
    ProblemConfig config;
    config.parts = parts;
    DecodeFixture g(config);
    ASSERT_TRUE(g.plan().ok());
    const Status st = mla_decode_with_kvcache(g.decode_args());
    EXPECT_TRUE(st.ok()) << st.to_string();
    EXPECT_TRUE(g.lse_fully_written());
  }
}

TEST_F(DecodeValidation, EmptyCacheMayHaveNullPointers) {
  ProblemConfig config;
  config.num_blocks = 0;
  config.max_blocks = 0;
  config.seqlens = {0, 0, 0};
  DecodeFixture g(config);
  ASSERT_TRUE(g.plan().ok());
  DecodeArgs a = g.decode_args();
  a.k_cache.data = nullptr;
  a.block_table.data = nullptr;
  const Status st = mla_decode_with_kvcache(a);
  ASSERT_TRUE(st.ok()) << st.to_string();
  // A row that sees no key has lse = +inf (see flashmla.h).
  for (float v : g.lse) EXPECT_TRUE(std::isinf(v) && v > 0) << v;
}

TEST_F(DecodeValidation, WorkspaceOfExactlyTheRequiredSizeIsAccepted) {
  const size_t bytes = decode_workspace_size(3, f.config().parts, static_cast<int>(f.q_rows()),
                                             static_cast<int>(f.config().h_kv));
  ASSERT_EQ(bytes % sizeof(float), 0u);
  std::vector<float> workspace(bytes / sizeof(float));  // exactly `bytes`: ASan sees any overrun
  args.workspace = workspace.data();
  args.workspace_bytes = bytes;
  const Status st = mla_decode_with_kvcache(args);
  EXPECT_TRUE(st.ok()) << st.to_string();
}

// --- Null data ----------------------------------------------------------------------------------

TEST_F(DecodeValidation, NullDataOfEveryTensor) {
  struct Case {
    const char* name;
    TensorView DecodeArgs::*member;
  };
  const Case cases[] = {
      {"q", &DecodeArgs::q},
      {"k_cache", &DecodeArgs::k_cache},
      {"block_table", &DecodeArgs::block_table},
      {"cache_seqlens", &DecodeArgs::cache_seqlens},
      {"tile_scheduler_metadata", &DecodeArgs::tile_scheduler_metadata},
      {"num_splits", &DecodeArgs::num_splits},
      {"out", &DecodeArgs::out},
      {"lse", &DecodeArgs::lse},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    args = f.decode_args();
    (args.*c.member).data = nullptr;
    ExpectInvalidArgument({std::string(c.name) + ": expected a non-null data pointer",
                           (args.*c.member).shape_string(), "got null"});
  }
}

// --- q ------------------------------------------------------------------------------------------

TEST_F(DecodeValidation, QWrongNumberOfDimensions) {
  args.q.ndim = 3;
  ExpectInvalidArgument({"q: expected 4 dimensions [b, s_q, h_q, 576], got 3 [3, 2, 8]"});
}

TEST_F(DecodeValidation, QWrongDtype) {
  args.q.dtype = DType::kFloat32;
  ExpectInvalidArgument({"q: expected dtype bfloat16 or float16, got float32"});
}

TEST_F(DecodeValidation, QUnknownDtype) {
  args.q.dtype = static_cast<DType>(42);
  ExpectInvalidArgument({"q: expected dtype bfloat16 or float16, got unknown dtype (42)"});
}

TEST_F(DecodeValidation, QWrongHeadDim) {
  args.q.shape[3] = kHeadDimV;
  ExpectInvalidArgument({"q: expected shape [b, s_q, h_q, 576], got [3, 2, 8, 512]",
                         "head dim 512 is not supported; only 576"});
}

TEST_F(DecodeValidation, QEmptyBatch) {
  args.q.shape[0] = 0;
  ExpectInvalidArgument({"q: expected batch size b (dimension 0) in [1, ", "got 0"});
}

TEST_F(DecodeValidation, QNoQueryTokens) {
  args.q.shape[1] = 0;
  ExpectInvalidArgument({"q: expected s_q (dimension 1) in [1, 8], got 0"});
}

TEST_F(DecodeValidation, QTooManyQueryTokens) {
  args.q.shape[1] = kMaxQueryTokens + 1;
  ExpectInvalidArgument({"q: expected s_q (dimension 1) in [1, 8], got 9"});
}

TEST_F(DecodeValidation, QNoHeads) {
  args.q.shape[2] = 0;
  ExpectInvalidArgument({"q: expected h_q (dimension 2) in [1, 128], got 0"});
}

TEST_F(DecodeValidation, QTooManyHeads) {
  args.q.shape[2] = kMaxQueryHeads + 1;
  ExpectInvalidArgument({"q: expected h_q (dimension 2) in [1, 128], got 129"});
}

TEST_F(DecodeValidation, QNegativeSize) {
  args.q.shape[1] = -2;
  ExpectInvalidArgument({"q: expected sizes >= 0, got shape [3, -2, 8, 576] (dimension 1"});
}

TEST_F(DecodeValidation, QLastDimensionNotUnitStride) {
  args.q.stride[3] = 2;
  ExpectInvalidArgument({"q: expected stride 1 in the last dimension, got 2"});
}

TEST_F(DecodeValidation, QZeroStride) {
  args.q.stride[1] = 0;
  ExpectInvalidArgument({"q: expected positive strides, got [9216, 0, 576, 1] (dimension 1)"});
}

TEST_F(DecodeValidation, QNegativeStride) {
  args.q.stride[0] = -9216;
  ExpectInvalidArgument({"q: expected positive strides, got [-9216, 4608, 576, 1] (dimension 0)"});
}

TEST_F(DecodeValidation, QMisalignedData) {
  args.q.data = reinterpret_cast<char*>(f.q.data()) + 1;
  ExpectInvalidArgument(
      {"q: expected data aligned to 2 bytes (the size of bfloat16), got address"});
}

TEST_F(DecodeValidation, QStridesAddressingMoreThanInt64) {
  args.q.stride[0] = int64_t{1} << 62;
  ExpectInvalidArgument({"q: expected a view of less than 2^63 bytes, got shape [3, 2, 8, 576]",
                         std::to_string(int64_t{1} << 62)});
}

// --- k_cache ------------------------------------------------------------------------------------

TEST_F(DecodeValidation, KCacheDtypeDiffersFromQ) {
  args.k_cache.dtype = DType::kFloat16;
  ExpectInvalidArgument({"k_cache: expected dtype bfloat16 (the dtype of q), got float16"});
}

TEST_F(DecodeValidation, KCacheWrongNumberOfDimensions) {
  args.k_cache.ndim = 5;
  ExpectInvalidArgument({"k_cache: expected 4 dimensions [num_blocks, 64, h_kv, 576], got 5"});
}

TEST_F(DecodeValidation, KCacheUnsupportedPageSize) {
  args.k_cache.shape[0] = 20;
  args.k_cache.shape[1] = 32;
  ExpectInvalidArgument(
      {"k_cache: expected shape [num_blocks, 64, h_kv, 576], got [20, 32, 2, 576]",
       "page size 32 is not supported; only 64"});
}

TEST_F(DecodeValidation, KCacheWrongHeadDim) {
  args.k_cache.shape[3] = kHeadDimV;
  ExpectInvalidArgument(
      {"k_cache: expected shape [num_blocks, 64, h_kv, 576], got [10, 64, 2, 512]",
       "head dim 512 is not supported; only 576"});
}

TEST_F(DecodeValidation, KCacheNoHeads) {
  args.k_cache.shape[2] = 0;
  ExpectInvalidArgument({"k_cache: expected h_kv (dimension 2) in [1, 8], got 0"});
}

TEST_F(DecodeValidation, QueryHeadsNotMultipleOfKvHeads) {
  args.k_cache.shape[2] = 3;
  ExpectInvalidArgument({"h_q (8) must be a multiple of h_kv (3)"});
}

TEST_F(DecodeValidation, KCacheLastDimensionNotUnitStride) {
  args.k_cache.stride[3] = 3;
  ExpectInvalidArgument({"k_cache: expected stride 1 in the last dimension, got 3"});
}

TEST_F(DecodeValidation, KCacheSizesOverflowInt64) {
  args.k_cache.shape[0] = int64_t{1} << 60;
  ExpectInvalidArgument({"k_cache: expected sizes whose product fits in int64, got [" +
                         std::to_string(int64_t{1} << 60) + ", 64, 2, 576]"});
}

// --- block_table --------------------------------------------------------------------------------

TEST_F(DecodeValidation, BlockTableWrongDtype) {
  args.block_table.dtype = DType::kFloat32;
  ExpectInvalidArgument({"block_table: expected dtype int32, got float32"});
}

TEST_F(DecodeValidation, BlockTableWrongBatch) {
  args.block_table.shape[0] = 2;
  ExpectInvalidArgument(
      {"block_table: expected shape [b, max_blocks_per_seq] = [3, max_blocks_per_seq], got [2, "
       "6]"});
}

TEST_F(DecodeValidation, BlockTableWrongNumberOfDimensions) {
  args.block_table.ndim = 1;
  ExpectInvalidArgument({"block_table: expected 2 dimensions", "got 1 [3]"});
}

TEST_F(DecodeValidation, BlockTableLastDimensionNotUnitStride) {
  args.block_table.stride[1] = 2;
  ExpectInvalidArgument({"block_table: expected stride 1 in the last dimension, got 2"});
}

// --- cache_seqlens ------------------------------------------------------------------------------

TEST_F(DecodeValidation, SeqlensWrongDtype) {
  args.cache_seqlens.dtype = DType::kFloat32;
  ExpectInvalidArgument({"cache_seqlens: expected dtype int32, got float32"});
}

TEST_F(DecodeValidation, SeqlensWrongLength) {
  args.cache_seqlens.shape[0] = 4;
  ExpectInvalidArgument({"cache_seqlens: expected shape [b] = [3], got [4]"});
}

TEST_F(DecodeValidation, SeqlensNotContiguous) {
  args.cache_seqlens.stride[0] = 2;
  ExpectInvalidArgument({"cache_seqlens: expected contiguous strides [1] for shape [3], got [2]"});
}

// --- out and lse --------------------------------------------------------------------------------

TEST_F(DecodeValidation, OutDtypeDiffersFromQ) {
  args.out.dtype = DType::kFloat32;
  ExpectInvalidArgument({"out: expected dtype bfloat16 (the dtype of q), got float32"});
}

TEST_F(DecodeValidation, OutWrongShape) {
  args.out.shape[3] = kHeadDimK;
  ExpectInvalidArgument(
      {"out: expected shape [b, s_q, h_q, 512] = [3, 2, 8, 512], got [3, 2, 8, 576]"});
}

TEST_F(DecodeValidation, OutNotContiguous) {
  args.out.stride[2] = 1024;
  args.out.stride[1] = 8 * 1024;
  args.out.stride[0] = 2 * 8 * 1024;
  ExpectInvalidArgument(
      {"out: expected contiguous strides [8192, 4096, 512, 1] for shape "
       "[3, 2, 8, 512], got [16384, 8192, 1024, 1]"});
}

TEST_F(DecodeValidation, LseWrongDtype) {
  args.lse.dtype = DType::kBFloat16;
  ExpectInvalidArgument({"lse: expected dtype float32, got bfloat16"});
}

TEST_F(DecodeValidation, LseInQueryLayoutInsteadOfHeadLayout) {
  args.lse = TensorView::contiguous(f.lse.data(), DType::kFloat32, Device{}, {3, 2, 8});
  ExpectInvalidArgument({"lse: expected shape [b, h_q, s_q] = [3, 8, 2], got [3, 2, 8]"});
}

TEST_F(DecodeValidation, LseNotContiguous) {
  std::swap(args.lse.stride[1], args.lse.stride[2]);
  ExpectInvalidArgument(
      {"lse: expected contiguous strides [16, 2, 1] for shape [3, 8, 2], got "
       "[16, 1, 2]"});
}

// --- Plan tensors -------------------------------------------------------------------------------

TEST_F(DecodeValidation, MetadataWrongDtype) {
  args.tile_scheduler_metadata.dtype = DType::kFloat32;
  ExpectInvalidArgument({"tile_scheduler_metadata: expected dtype int32, got float32"});
}

TEST_F(DecodeValidation, MetadataWrongWidth) {
  args.tile_scheduler_metadata.shape[1] = 7;
  ExpectInvalidArgument({"tile_scheduler_metadata: expected shape [num_sm_parts, 8], got [5, 7]"});
}

TEST_F(DecodeValidation, MetadataWithoutParts) {
  args.tile_scheduler_metadata.shape[0] = 0;
  ExpectInvalidArgument(
      {"tile_scheduler_metadata: expected num_sm_parts (dimension 0) in [1, ", "got 0"});
}

TEST_F(DecodeValidation, MetadataNotContiguous) {
  args.tile_scheduler_metadata.stride[0] = 16;
  ExpectInvalidArgument(
      {"tile_scheduler_metadata: expected contiguous strides [8, 1] for shape "
       "[5, 8], got [16, 1]"});
}

TEST_F(DecodeValidation, NumSplitsWrongLength) {
  args.num_splits.shape[0] = 3;
  ExpectInvalidArgument({"num_splits: expected shape [b + 1] = [4], got [3]"});
}

TEST_F(DecodeValidation, NumSplitsWrongDtype) {
  args.num_splits.dtype = DType::kFloat16;
  ExpectInvalidArgument({"num_splits: expected dtype int32, got float16"});
}

// --- Scalars ------------------------------------------------------------------------------------

TEST_F(DecodeValidation, HeadDimVNot512) {
  args.head_dim_v = kHeadDimK;
  ExpectInvalidArgument({"head_dim_v: expected 512, got 576"});
}

TEST_F(DecodeValidation, SoftmaxScaleNegative) {
  args.softmax_scale = -1.0f;
  ExpectInvalidArgument({"softmax_scale: expected a finite value > 0", "got -1"});
}

TEST_F(DecodeValidation, SoftmaxScaleNaN) {
  args.softmax_scale = std::numeric_limits<float>::quiet_NaN();
  ExpectInvalidArgument({"softmax_scale: expected a finite value > 0", "got nan"});
}

TEST_F(DecodeValidation, SoftmaxScaleInfinite) {
  args.softmax_scale = std::numeric_limits<float>::infinity();
  ExpectInvalidArgument({"softmax_scale: expected a finite value > 0", "got inf"});
}

// --- Devices ------------------------------------------------------------------------------------

TEST_F(DecodeValidation, TensorsOnDifferentDevices) {
  args.k_cache.device = kCuda0;
  ExpectInvalidArgument({"k_cache: expected device cpu (the device of q), got cuda:0",
                         "all tensors of a call must be on one device"});
}

TEST_F(DecodeValidation, OutputOnDifferentDevice) {
  args.lse.device = Device{DeviceType::kCUDA, 3};
  ExpectInvalidArgument({"lse: expected device cpu (the device of q), got cuda:3"});
}

TEST_F(DecodeValidation, UnknownDeviceType) {
  args.block_table.device.type = static_cast<DeviceType>(9);
  ExpectInvalidArgument({"block_table: expected device cpu or cuda:N, got unknown device type 9"});
}

TEST_F(DecodeValidation, CpuDeviceWithNonZeroIndex) {
  args.out.device.index = 2;
  ExpectInvalidArgument({"out: expected device index 0 for the CPU, got cpu:2"});
}

TEST_F(DecodeValidation, CudaTensorsInCpuOnlyBuild) {
  if (!built_without_cuda()) GTEST_SKIP() << "this build has a CUDA backend";
  for (TensorView* t : {&args.q, &args.k_cache, &args.block_table, &args.cache_seqlens,
                        &args.tile_scheduler_metadata, &args.num_splits, &args.out, &args.lse}) {
    t->device = kCuda0;
  }
  ExpectRejected(StatusCode::kUnsupportedDevice,
                 {"cuda:0", "no CUDA backend", "rebuild with FLASHMLA_CUDA=ON"});
}

// --- Workspace ----------------------------------------------------------------------------------

TEST_F(DecodeValidation, WorkspaceTooSmall) {
  const size_t bytes = decode_workspace_size(3, 5, 8, 2);
  std::vector<float> workspace(bytes / sizeof(float));
  args.workspace = workspace.data();
  args.workspace_bytes = bytes - 4;
  ExpectInvalidArgument(
      {"workspace_bytes: expected at least decode_workspace_size(b = 3, "
       "num_sm_parts = 5, q_rows_per_kv_head = 8, h_kv = 2) = " +
       std::to_string(bytes) + " bytes, got " + std::to_string(bytes - 4)});
}

TEST_F(DecodeValidation, WorkspaceMisaligned) {
  const size_t bytes = decode_workspace_size(3, 5, 8, 2);
  std::vector<float> workspace(bytes / sizeof(float) + 4);
  args.workspace = workspace.data() + 1;  // 4 bytes past a 16-byte boundary
  args.workspace_bytes = bytes;
  ExpectInvalidArgument({"workspace: expected a 16-byte aligned address, got"});
}

// --- Data: cache_seqlens and block_table
// ----------------------------------------------------------

TEST_F(DecodeValidation, SeqlenBeyondBlockTableCapacity) {
  f.seqlens[1] = 6 * kPageSize + 1;
  ExpectInvalidData(
      {"cache_seqlens[1] = 385 exceeds the block table's capacity of 384 tokens "
       "(6 pages of 64)"});
}

TEST_F(DecodeValidation, SeqlenNegative) {
  f.seqlens[2] = -1;
  ExpectInvalidData({"cache_seqlens[2] = -1: expected a length >= 0"});
}

TEST_F(DecodeValidation, BlockTableEntryPastLastPage) {
  f.block_table[0 * 6 + 3] = 10;
  ExpectInvalidData({"block_table[0][3] = 10: expected a page of k_cache in [0, 10)",
                     "sequence 0 has 380 tokens"});
}

TEST_F(DecodeValidation, BlockTableEntryNegative) {
  f.block_table[2 * 6 + 0] = -1;
  ExpectInvalidData({"block_table[2][0] = -1: expected a page of k_cache in [0, 10)"});
}

// --- Data: the plan
// -------------------------------------------------------------------------------

TEST_F(DecodeValidation, MetadataPlannedForOtherQueryRows) {
  MetadataArgs other = f.metadata_args();
  other.q_rows_per_kv_head = 16;
  ASSERT_TRUE(get_mla_metadata(other).ok());
  ExpectInvalidData(
      {"tile_scheduler_metadata[0]: expected a plan for b = 3, q_rows_per_kv_head = 8",
       "h_kv = 2, got one for b = 3, q_rows_per_kv_head = 16, h_kv = 2",
       "call get_mla_metadata()"});
}

TEST_F(DecodeValidation, MetadataPlannedForOtherKvHeads) {
  MetadataArgs other = f.metadata_args();
  other.h_kv = 1;
  ASSERT_TRUE(get_mla_metadata(other).ok());
  ExpectInvalidData({"tile_scheduler_metadata[0]: expected a plan for b = 3", "h_kv = 2",
                     "got one for b = 3, q_rows_per_kv_head = 8, h_kv = 1"});
}

TEST_F(DecodeValidation, MetadataStampedForOtherBatch) {
  f.metadata[4 * kMetadataFields + 5] = 4;  // field 5: the batch the plan was made for
  ExpectInvalidData({"tile_scheduler_metadata[4]: expected a plan for b = 3", "got one for b = 4"});
}

TEST_F(DecodeValidation, MetadataPlannedForOtherSeqlens) {
  const std::vector<int32_t> real = f.seqlens;
  f.seqlens = {64, 0, 380};
  ASSERT_TRUE(f.plan().ok());
  f.seqlens = real;
  ExpectInvalidData(
      {"tile_scheduler_metadata[1]: begins at (sequence 1, page 0, split 0), "
       "expected (sequence 0, page 1, split 1)",
       "was it made for these cache_seqlens?"});
}

TEST_F(DecodeValidation, NumSplitsNotStartingAtZero) {
  f.num_splits[0] = 1;
  ExpectInvalidData({"num_splits[0] = 1: expected 0"});
}

TEST_F(DecodeValidation, NumSplitsWithSequenceWithoutSplits) {
  f.num_splits[2] = f.num_splits[1];
  ExpectInvalidData({"num_splits: sequence 1 has 0 splits", "expected at least 1"});
}

TEST_F(DecodeValidation, NumSplitsTotalBeyondBound) {
  f.num_splits[3] = 3 + 5;  // b + parts: one more than any plan can need
  ExpectInvalidData({"num_splits[3] = 8: expected at most b + num_sm_parts - 1 = 7"});
}

TEST_F(DecodeValidation, NumSplitsDisagreeingWithMetadata) {
  f.num_splits = {0, 1, 2, 3};  // sequence 0 is cut in two by the plan
  ExpectInvalidData({"sequence 0 ends in its split 1 but num_splits gives it 1 splits"});
}

TEST_F(DecodeValidation, MetadataBeginSeqOutOfRange) {
  f.metadata[1 * kMetadataFields + 0] = 7;
  ExpectInvalidData({"tile_scheduler_metadata[1]: begins at (sequence 7"});
}

TEST_F(DecodeValidation, MetadataEndSeqOutOfRange) {
  f.metadata[3 * kMetadataFields + 2] = 5;
  ExpectInvalidData({"tile_scheduler_metadata[3]: end_seq = 5, expected a sequence in [2, 2]"});
}

TEST_F(DecodeValidation, MetadataEndPagePastSequence) {
  f.metadata[3 * kMetadataFields + 3] = 2;  // sequence 2 has one page
  ExpectInvalidData(
      {"tile_scheduler_metadata[3]: end_page = 2 in sequence 2, expected a page in "
       "(0, 1]"});
}

TEST_F(DecodeValidation, MetadataLeavingPagesUncovered) {
  // Part 3 covers sequence 2; turning it into an empty part leaves that sequence's page unplanned.
  f.metadata[3 * kMetadataFields + 2] = 1;
  f.metadata[3 * kMetadataFields + 3] = 0;
  ExpectInvalidData(
      {"tile_scheduler_metadata[4]: begins at (sequence 3, page 0, split 0), "
       "expected (sequence 2, page 0, split 0)"});
}

// --- Checks only a CUDA build can reach through the public API --------------------------------
// In this CPU-only build, a call with CUDA tensors stops at kUnsupportedDevice before validation
// finishes, so these exercise validate_decode_args() directly.

TEST_F(DecodeValidation, InternalCudaCallNeedsWorkspace) {
  for (TensorView* t : {&args.q, &args.k_cache, &args.block_table, &args.cache_seqlens,
                        &args.tile_scheduler_metadata, &args.num_splits, &args.out, &args.lse}) {
    t->device = kCuda0;
  }
  DecodeShape shape;
  const Status st = validate_decode_args(args, f.config().parts, &shape);
  EXPECT_TRUE(IsError(
      st, StatusCode::kInvalidArgument,
      {"workspace: expected device memory of at least decode_workspace_size(", "got null"}));
}

// The CUDA path needs views it can read and write with 16-byte vectors; the CPU path accepts any
// positive strides (tested above). Validation alone is run: it never dereferences CUDA pointers.
class CudaVectorAccess : public DecodeValidation {
 protected:
  void SetUp() override {
    DecodeValidation::SetUp();
    for (TensorView* t : {&args.q, &args.k_cache, &args.block_table, &args.cache_seqlens,
                          &args.tile_scheduler_metadata, &args.num_splits, &args.out, &args.lse}) {
      t->device = kCuda0;
    }
    const size_t bytes = decode_workspace_size(3, f.config().parts, static_cast<int>(f.q_rows()),
                                               static_cast<int>(f.config().h_kv));
    workspace.assign(bytes / sizeof(float), 0.f);
    args.workspace = workspace.data();
    args.workspace_bytes = bytes;
  }
  Status validate() {
    DecodeShape shape;
    return validate_decode_args(args, f.config().parts, &shape);
  }
  std::vector<float> workspace;
};

TEST_F(CudaVectorAccess, AlignedViewsAreAccepted) {
  const Status st = validate();
  EXPECT_TRUE(st.ok()) << st.to_string();
}

TEST_F(CudaVectorAccess, QHeadStrideNotAMultipleOfEightElements) {
  args.q.stride[2] = kHeadDimK + 4;
  args.q.stride[1] = args.q.shape[2] * args.q.stride[2];
  args.q.stride[0] = args.q.shape[1] * args.q.stride[1];
  EXPECT_TRUE(IsError(validate(), StatusCode::kInvalidArgument,
                      {"q: on CUDA the kernels read 16-byte vectors", "multiples of 8 elements",
                       "(dimension 2)"}));
}

TEST_F(CudaVectorAccess, KCacheOffsetByOneElement) {
  args.k_cache.data = static_cast<uint16_t*>(args.k_cache.data) + 1;
  EXPECT_TRUE(IsError(validate(), StatusCode::kInvalidArgument,
                      {"k_cache: on CUDA the kernels read 16-byte vectors",
                       "expected a 16-byte aligned data pointer"}));
}

TEST_F(CudaVectorAccess, OutOffsetByOneElement) {
  args.out.data = static_cast<uint16_t*>(args.out.data) + 1;
  EXPECT_TRUE(IsError(validate(), StatusCode::kInvalidArgument,
                      {"out: on CUDA the kernels read 16-byte vectors",
                       "expected a 16-byte aligned data pointer"}));
}

// The public entry computes the plan size a CUDA device expects before validation runs; absurd
// sizes must reach validation's error, not a division by zero or an overflowing cast.
TEST_F(DecodeValidation, AbsurdCudaShapesAreReportedNotCrashedOn) {
  for (TensorView* t : {&args.q, &args.k_cache, &args.block_table, &args.cache_seqlens,
                        &args.tile_scheduler_metadata, &args.num_splits, &args.out, &args.lse}) {
    t->device = kCuda0;
  }
  args.q.shape[2] = 0;
  args.k_cache.shape[2] = int64_t{1} << 32;  // truncates to 0 as an int
  args.k_cache.stride[2] = 0;
  EXPECT_FALSE(mla_decode_with_kvcache(args).ok());
  args.q.shape[2] = 8;
  args.q.shape[1] = int64_t{1} << 40;
  EXPECT_FALSE(mla_decode_with_kvcache(args).ok());
}

TEST_F(DecodeValidation, InternalMetadataForAnotherDevice) {
  DecodeShape shape;
  const Status st = validate_decode_args(args, 132, &shape);
  EXPECT_TRUE(IsError(st, StatusCode::kInvalidArgument,
                      {"tile_scheduler_metadata: expected [132, 8] for this device and shape (132 "
                       "SM parts), got [5, 8]; was it made for another shape or device?"}));
}

TEST_F(DecodeValidation, InternalShapeIsResolved) {
  DecodeShape shape;
  args.causal = true;
  ASSERT_TRUE(validate_decode_args(args, 0, &shape).ok());
  EXPECT_EQ(shape.batch, 3);
  EXPECT_EQ(shape.s_q, 2);
  EXPECT_EQ(shape.h_q, 8);
  EXPECT_EQ(shape.h_kv, 2);
  EXPECT_EQ(shape.ngroups, 4);
  EXPECT_EQ(shape.q_rows, 8);
  EXPECT_EQ(shape.num_blocks, 10);
  EXPECT_EQ(shape.max_blocks_per_seq, 6);
  EXPECT_EQ(shape.num_sm_parts, 5);
  EXPECT_TRUE(shape.causal);
  EXPECT_FLOAT_EQ(shape.softmax_scale, 1.0f / std::sqrt(static_cast<float>(kHeadDimK)));
  args.softmax_scale = 0.25f;
  ASSERT_TRUE(validate_decode_args(args, 0, &shape).ok());
  EXPECT_EQ(shape.softmax_scale, 0.25f);
}

// ---------------------------------------------------------------------------------------------
// get_mla_metadata
// ---------------------------------------------------------------------------------------------

class MetadataValidation : public ::testing::Test {
 protected:
  void SetUp() override { args = f.metadata_args(); }

  // Runs the call and checks the rejection and that metadata/num_splits are untouched.
  void ExpectRejected(StatusCode code, const std::vector<std::string>& needles) {
    const Status st = get_mla_metadata(args);
    EXPECT_TRUE(IsError(st, code, needles));
    for (int32_t v : f.metadata)
      ASSERT_EQ(v, kPlanSentinel) << "metadata written by a rejected call";
    for (int32_t v : f.num_splits)
      ASSERT_EQ(v, kPlanSentinel) << "num_splits written by a rejected call";
  }
  void ExpectInvalidArgument(const std::vector<std::string>& needles) {
    ExpectRejected(StatusCode::kInvalidArgument, needles);
  }

  DecodeFixture f;
  MetadataArgs args;
};

TEST_F(MetadataValidation, ValidCallSucceeds) {
  const Status st = get_mla_metadata(args);
  ASSERT_TRUE(st.ok()) << st.to_string();
  EXPECT_EQ(f.num_splits[0], 0);
  for (int32_t v : f.metadata) EXPECT_NE(v, kPlanSentinel);
}

TEST_F(MetadataValidation, SeqlensNull) {
  args.cache_seqlens.data = nullptr;
  ExpectInvalidArgument(
      {"cache_seqlens: expected a non-null data pointer for shape [3], got null"});
}

TEST_F(MetadataValidation, SeqlensWrongDtype) {
  args.cache_seqlens.dtype = DType::kFloat32;
  ExpectInvalidArgument({"cache_seqlens: expected dtype int32, got float32"});
}

TEST_F(MetadataValidation, SeqlensWrongNumberOfDimensions) {
  args.cache_seqlens.ndim = 2;
  args.cache_seqlens.shape[1] = 1;
  ExpectInvalidArgument({"cache_seqlens: expected 1 dimensions [b], got 2 [3, 1]"});
}

TEST_F(MetadataValidation, SeqlensEmptyBatch) {
  args.cache_seqlens.shape[0] = 0;
  ExpectInvalidArgument({"cache_seqlens: expected batch size b in [1, ", "got 0"});
}

TEST_F(MetadataValidation, SeqlensNotContiguous) {
  args.cache_seqlens.stride[0] = 3;
  ExpectInvalidArgument({"cache_seqlens: expected contiguous strides [1] for shape [3], got [3]"});
}

TEST_F(MetadataValidation, QueryRowsZero) {
  args.q_rows_per_kv_head = 0;
  ExpectInvalidArgument(
      {"q_rows_per_kv_head: expected a value (s_q * h_q / h_kv) in [1, 1024], "
       "got 0"});
}

TEST_F(MetadataValidation, QueryRowsTooMany) {
  args.q_rows_per_kv_head = 1025;
  ExpectInvalidArgument(
      {"q_rows_per_kv_head: expected a value (s_q * h_q / h_kv) in [1, 1024], "
       "got 1025"});
}

TEST_F(MetadataValidation, KvHeadsZero) {
  args.h_kv = 0;
  ExpectInvalidArgument({"h_kv: expected a value in [1, 128], got 0"});
}

TEST_F(MetadataValidation, QueryRowsTimesKvHeadsTooMany) {
  args.q_rows_per_kv_head = 1024;
  args.h_kv = 2;
  ExpectInvalidArgument(
      {"q_rows_per_kv_head * h_kv (= s_q * h_q): expected at most 1024", "got 2048"});
}

TEST_F(MetadataValidation, MetadataWrongWidth) {
  args.tile_scheduler_metadata.shape[1] = 4;
  ExpectInvalidArgument({"tile_scheduler_metadata: expected shape [num_sm_parts, 8], got [5, 4]"});
}

TEST_F(MetadataValidation, MetadataWithoutParts) {
  args.tile_scheduler_metadata.shape[0] = 0;
  ExpectInvalidArgument(
      {"tile_scheduler_metadata: expected num_sm_parts (dimension 0) in [1, ", "got 0"});
}

TEST_F(MetadataValidation, MetadataWrongDtype) {
  args.tile_scheduler_metadata.dtype = DType::kBFloat16;
  ExpectInvalidArgument({"tile_scheduler_metadata: expected dtype int32, got bfloat16"});
}

TEST_F(MetadataValidation, MetadataNull) {
  args.tile_scheduler_metadata.data = nullptr;
  ExpectInvalidArgument({"tile_scheduler_metadata: expected a non-null data pointer", "got null"});
}

TEST_F(MetadataValidation, NumSplitsWrongLength) {
  args.num_splits.shape[0] = 3;
  ExpectInvalidArgument({"num_splits: expected shape [b + 1] = [4], got [3]"});
}

TEST_F(MetadataValidation, NumSplitsWrongDtype) {
  args.num_splits.dtype = DType::kFloat32;
  ExpectInvalidArgument({"num_splits: expected dtype int32, got float32"});
}

TEST_F(MetadataValidation, NumSplitsNull) {
  args.num_splits.data = nullptr;
  ExpectInvalidArgument({"num_splits: expected a non-null data pointer", "got null"});
}

TEST_F(MetadataValidation, OutputsOnAnotherDevice) {
  args.num_splits.device = kCuda0;
  ExpectInvalidArgument(
      {"num_splits: expected device cpu (the device of cache_seqlens), got "
       "cuda:0"});
}

TEST_F(MetadataValidation, NegativeSeqlen) {
  f.seqlens[1] = -3;
  ExpectRejected(StatusCode::kInvalidInputData, {"cache_seqlens[1] = -3: expected a length >= 0"});
}

TEST_F(MetadataValidation, CudaTensorsInCpuOnlyBuild) {
  if (!built_without_cuda()) GTEST_SKIP() << "this build has a CUDA backend";
  args.cache_seqlens.device = kCuda0;
  args.tile_scheduler_metadata.device = kCuda0;
  args.num_splits.device = kCuda0;
  ExpectRejected(StatusCode::kUnsupportedDevice,
                 {"cuda:0", "no CUDA backend", "rebuild with FLASHMLA_CUDA=ON"});
}

}  // namespace
}  // namespace validation_test
}  // namespace flashmla
