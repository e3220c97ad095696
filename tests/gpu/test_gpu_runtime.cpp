// The GPU path as a runtime component: CUDA graph capture and replay, two streams (and host
// threads) at once, the metadata kernel against the host scheduler, input-checking mode, and the
// errors of CUDA-specific misuse.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "core/scheduler.h"
#include "gpu/gpu_support.h"
#include "test_support.h"

namespace flashmla {
namespace test {
namespace {

class GpuRuntime : public ::testing::Test {
 protected:
  void SetUp() override { REQUIRE_HOPPER(); }
};

void expect_matches_cpu(const DecodeProblem& host, const GpuOutputs& gpu) {
  ASSERT_TRUE(gpu.status.ok()) << gpu.status.to_string();
  EXPECT_EQ(gpu.unwritten_out, 0);
  EXPECT_EQ(gpu.unwritten_lse, 0);
  const CpuRun cpu = run_cpu(host, static_cast<int>(gpu.metadata.size() / kMetadataFields));
  ASSERT_TRUE(cpu.status.ok()) << cpu.status.to_string();
  EXPECT_LT(rel_error(widen(gpu.out, host.spec.dtype), widen(cpu.out, host.spec.dtype)),
            host.spec.dtype == DType::kBFloat16 ? 1e-2 : 2e-3);
  EXPECT_LT(lse_rel_error(widen(gpu.lse), widen(cpu.lse)), 1e-4);
}

TEST_F(GpuRuntime, GraphCaptureAndReplayOfAWholeStep) {
  ProblemSpec s;
  s.b = 8;
  s.s_q = 2;
  s.h_q = 64;
  s.s_k = 3000;
  s.varlen = true;
  s.causal = true;
  const DecodeProblem host = make_problem(s);
  UploadedProblem dev(host);
  cudaStream_t stream;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const GpuOutputs gpu = run_gpu(dev.view, stream, /*graph=*/true, /*replays=*/3);
  cudaStreamDestroy(stream);
  expect_matches_cpu(host, gpu);
}

TEST_F(GpuRuntime, TwoStreamsFromTwoThreadsAtOnce) {
  ProblemSpec a;
  a.b = 16;
  a.h_q = 128;
  a.s_k = 2500;
  a.varlen = true;
  a.seed = 11;
  ProblemSpec b = a;
  b.h_q = 16;
  b.dtype = DType::kFloat16;
  b.seed = 12;
  const DecodeProblem ha = make_problem(a), hb = make_problem(b);
  UploadedProblem da(ha), db(hb);
  GpuOutputs ra, rb;
  auto run_on_new_stream = [](const DeviceProblem& p, GpuOutputs* r) {
    cudaStream_t stream;
    cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
    for (int i = 0; i < 5; ++i) *r = run_gpu(p, stream);
    cudaStreamDestroy(stream);
  };
  std::thread ta(run_on_new_stream, std::cref(da.view), &ra);
  std::thread tb(run_on_new_stream, std::cref(db.view), &rb);
  ta.join();
  tb.join();
  expect_matches_cpu(ha, ra);
  expect_matches_cpu(hb, rb);
}

TEST_F(GpuRuntime, MetadataKernelEqualsHostScheduler) {
  std::mt19937_64 rng(5);
  const Device dev{DeviceType::kCUDA, 0};
  for (int trial = 0; trial < 42; ++trial) {
    // The last trials pass the kernel's shared-memory staging limit (8192 sequences).
    const int64_t b = trial < 40 ? 1 + static_cast<int64_t>(rng() % (trial < 30 ? 300 : 4096))
                                 : 8192 + 1 + static_cast<int64_t>(rng() % 12000);
    std::vector<int32_t> lens(static_cast<size_t>(b));
    for (auto& l : lens) {
      const int kind = static_cast<int>(rng() % 4);
      l = kind == 0 ? 0 : kind == 1 ? static_cast<int32_t>(rng() % 100) : static_cast<int32_t>(rng() % 70000);
    }
    const int h_kv = 1 + static_cast<int>(rng() % 2);
    const int q_rows = (1 + static_cast<int>(rng() % 8)) * 16;
    int parts = 0;
    ASSERT_TRUE(get_num_sm_parts(dev, q_rows, h_kv, &parts).ok());
    DeviceBuffer d_lens(lens.size() * 4), d_meta(static_cast<size_t>(parts) * kMetadataFields * 4),
        d_splits(static_cast<size_t>(b + 1) * 4);
    CUDA_OK(cudaMemcpy(d_lens.get(), lens.data(), d_lens.bytes(), cudaMemcpyHostToDevice));
    MetadataArgs m;
    m.cache_seqlens = TensorView::contiguous(d_lens.get(), DType::kInt32, dev, {b});
    m.q_rows_per_kv_head = q_rows;
    m.h_kv = h_kv;
    m.tile_scheduler_metadata = TensorView::contiguous(d_meta.get(), DType::kInt32, dev, {parts, kMetadataFields});
    m.num_splits = TensorView::contiguous(d_splits.get(), DType::kInt32, dev, {b + 1});
    ASSERT_TRUE(get_mla_metadata(m).ok());
    std::vector<int32_t> gpu_meta(static_cast<size_t>(parts) * kMetadataFields), gpu_splits(static_cast<size_t>(b + 1));
    CUDA_OK(cudaMemcpy(gpu_meta.data(), d_meta.get(), d_meta.bytes(), cudaMemcpyDeviceToHost));
    CUDA_OK(cudaMemcpy(gpu_splits.data(), d_splits.get(), d_splits.bytes(), cudaMemcpyDeviceToHost));
    std::vector<int32_t> host_meta(gpu_meta.size()), host_splits(gpu_splits.size());
    ASSERT_TRUE(scheduler::plan_on_host(lens.data(), b, parts, q_rows, h_kv, host_meta.data(), host_splits.data()));
    ASSERT_EQ(gpu_meta, host_meta) << "trial " << trial << " b=" << b;
    ASSERT_EQ(gpu_splits, host_splits) << "trial " << trial << " b=" << b;
  }
}

// Decode args for an uploaded problem, with freshly planned metadata on the device.
struct PreparedCall {
  DeviceBuffer meta, splits, out, lse, ws;
  DecodeArgs args;
};

void prepare(const UploadedProblem& dev, PreparedCall* c) {
  const DeviceProblem& p = dev.view;
  const Device d = p.q.device;
  const int q_rows = p.s_q * (p.h_q / p.h_kv);
  int parts = 0;
  ASSERT_TRUE(get_num_sm_parts(d, q_rows, p.h_kv, &parts).ok());
  c->meta.resize(static_cast<size_t>(parts) * kMetadataFields * 4);
  c->splits.resize(static_cast<size_t>(p.b + 1) * 4);
  c->out.resize(static_cast<size_t>(p.b * p.s_q * p.h_q * kHeadDimV) * 2);
  c->lse.resize(static_cast<size_t>(p.b * p.h_q * p.s_q) * 4);
  c->ws.resize(decode_workspace_size(p.b, parts, q_rows, p.h_kv));
  MetadataArgs m;
  m.cache_seqlens = p.seqlens;
  m.q_rows_per_kv_head = q_rows;
  m.h_kv = p.h_kv;
  m.tile_scheduler_metadata = TensorView::contiguous(c->meta.get(), DType::kInt32, d, {parts, kMetadataFields});
  m.num_splits = TensorView::contiguous(c->splits.get(), DType::kInt32, d, {p.b + 1});
  ASSERT_TRUE(get_mla_metadata(m).ok());
  c->args.q = p.q;
  c->args.k_cache = p.k_cache;
  c->args.block_table = p.block_table;
  c->args.cache_seqlens = p.seqlens;
  c->args.tile_scheduler_metadata = m.tile_scheduler_metadata;
  c->args.num_splits = m.num_splits;
  c->args.out = TensorView::contiguous(c->out.get(), p.dtype, d, {p.b, p.s_q, p.h_q, kHeadDimV});
  c->args.lse = TensorView::contiguous(c->lse.get(), DType::kFloat32, d, {p.b, p.h_q, p.s_q});
  c->args.workspace = c->ws.get();
  c->args.workspace_bytes = c->ws.bytes();
}

TEST_F(GpuRuntime, CheckingModeReportsABadBlockTableEntry) {
  ProblemSpec s;
  s.b = 4;
  s.h_q = 16;
  s.seqlens = {100, 700, 64, 5};
  DecodeProblem host = make_problem(s);
  host.block_table[static_cast<size_t>(1 * host.table_stride[0] + 7)] = static_cast<int32_t>(host.num_blocks + 1000);
  UploadedProblem dev(host);
  PreparedCall call;
  prepare(dev, &call);
  if (HasFatalFailure()) return;
  call.args.check_inputs = true;
  const Status st = mla_decode_with_kvcache(call.args);
  EXPECT_EQ(st.code(), StatusCode::kInvalidInputData) << st.to_string();
  EXPECT_NE(st.message().find("block_table[1][7]"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(std::to_string(host.num_blocks + 1000)), std::string::npos) << st.message();
}

// cache_seqlens changed on the device after planning, the shape unchanged (so the plan's stamps
// still match): a length past the block table, and a plan whose page ranges no longer cover the
// lengths, are both reported; a change that keeps every sequence's page count keeps the plan valid.
TEST_F(GpuRuntime, CheckingModeReportsChangedLengths) {
  ProblemSpec s;
  s.b = 3;
  s.h_q = 16;
  s.seqlens = {100, 200, 300};
  const DecodeProblem host = make_problem(s);
  UploadedProblem dev(host);
  PreparedCall call;
  prepare(dev, &call);
  if (HasFatalFailure()) return;
  call.args.check_inputs = true;
  auto set_length = [&](int seq, int32_t length) {
    CUDA_OK(cudaMemcpy(dev.seqlens.as<int32_t>() + seq, &length, 4, cudaMemcpyHostToDevice));
  };

  set_length(0, 120);  // 100 -> 120 tokens: still 2 pages
  Status st = mla_decode_with_kvcache(call.args);
  EXPECT_TRUE(st.ok()) << st.to_string();

  set_length(2, 10);  // 300 -> 10 tokens: 5 pages -> 1, the plan still walks 5
  st = mla_decode_with_kvcache(call.args);
  EXPECT_EQ(st.code(), StatusCode::kInvalidInputData) << st.to_string();
  EXPECT_NE(st.message().find("tile_scheduler_metadata["), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("was it made for these cache_seqlens?"), std::string::npos) << st.message();

  set_length(2, static_cast<int32_t>(host.max_blocks * kPageSize + 1));
  st = mla_decode_with_kvcache(call.args);
  EXPECT_EQ(st.code(), StatusCode::kInvalidInputData) << st.to_string();
  EXPECT_NE(st.message().find("cache_seqlens[2]"), std::string::npos) << st.message();
}

TEST_F(GpuRuntime, CheckingModeAcceptsGoodInputs) {
  ProblemSpec s;
  s.b = 5;
  s.h_q = 64;
  s.s_k = 900;
  s.varlen = true;
  const DecodeProblem host = make_problem(s);
  UploadedProblem dev(host);
  PreparedCall call;
  prepare(dev, &call);
  if (HasFatalFailure()) return;
  call.args.check_inputs = true;
  const Status st = mla_decode_with_kvcache(call.args);
  EXPECT_TRUE(st.ok()) << st.to_string();
}

TEST_F(GpuRuntime, MisuseGetsClearErrors) {
  ProblemSpec s;
  s.b = 2;
  s.h_q = 32;
  s.s_k = 300;
  const DecodeProblem host = make_problem(s);
  UploadedProblem dev(host);
  PreparedCall call;
  prepare(dev, &call);
  if (HasFatalFailure()) return;
  {
    DecodeArgs a = call.args;
    a.workspace = nullptr;
    a.workspace_bytes = 0;
    const Status st = mla_decode_with_kvcache(a);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("workspace"), std::string::npos) << st.message();
  }
  {
    DecodeArgs a = call.args;
    a.tile_scheduler_metadata.shape[0] += 1;
    const Status st = mla_decode_with_kvcache(a);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("tile_scheduler_metadata"), std::string::npos) << st.message();
  }
  {
    DecodeArgs a = call.args;
    a.cache_seqlens = host.seqlens_view();  // host tensor among device ones
    const Status st = mla_decode_with_kvcache(a);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("cpu"), std::string::npos) << st.message();
  }
}

}  // namespace
}  // namespace test
}  // namespace flashmla
