#include "gpu/gpu_support.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "flashmla/half.h"

namespace flashmla {
namespace test {

std::string gpu_skip_reason() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();
    return "no CUDA device present: GPU tests skipped";
  }
  int major = 0;
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0);
  if (major != 9) return "device 0 is not a Hopper GPU (sm_90): GPU tests skipped";
  return "";
}

namespace {

bool is_nan_half(uint16_t v, DType dtype) {
  return (v & 0x7fff) > (dtype == DType::kBFloat16 ? 0x7f80 : 0x7c00);
}

TensorView device_tensor(void* data, DType dtype, Device device, std::initializer_list<int64_t> shape) {
  return TensorView::contiguous(data, dtype, device, shape);
}

}  // namespace

GpuOutputs run_gpu(const DeviceProblem& p, cudaStream_t stream, bool graph, int replays) {
  GpuOutputs r;
  const Device dev = p.q.device;
  const int q_rows = p.s_q * (p.h_q / p.h_kv);
  int parts = 0;
  r.status = get_num_sm_parts(dev, q_rows, p.h_kv, &parts);
  if (!r.status.ok()) return r;

  DeviceBuffer meta(static_cast<size_t>(parts) * kMetadataFields * 4);
  DeviceBuffer splits(static_cast<size_t>(p.b + 1) * 4);
  const int64_t out_n = p.b * p.s_q * p.h_q * kHeadDimV;
  const int64_t lse_n = p.b * p.h_q * p.s_q;
  DeviceBuffer out(static_cast<size_t>(out_n) * 2);
  DeviceBuffer lse(static_cast<size_t>(lse_n) * 4);
  const size_t ws_bytes = decode_workspace_size(p.b, parts, q_rows, p.h_kv);
  DeviceBuffer ws(ws_bytes);
  // Poison: every output and the workspace start as NaN (0xff bytes are NaN in every dtype).
  cudaMemsetAsync(out.get(), 0xff, out.bytes(), stream);
  cudaMemsetAsync(lse.get(), 0xff, lse.bytes(), stream);
  cudaMemsetAsync(ws.get(), 0xff, ws.bytes(), stream);
  cudaMemsetAsync(meta.get(), 0xff, meta.bytes(), stream);

  MetadataArgs margs;
  margs.cache_seqlens = p.seqlens;
  margs.q_rows_per_kv_head = q_rows;
  margs.h_kv = p.h_kv;
  margs.tile_scheduler_metadata = device_tensor(meta.get(), DType::kInt32, dev, {parts, kMetadataFields});
  margs.num_splits = device_tensor(splits.get(), DType::kInt32, dev, {p.b + 1});
  margs.stream = stream;

  DecodeArgs dargs;
  dargs.q = p.q;
  dargs.k_cache = p.k_cache;
  dargs.block_table = p.block_table;
  dargs.cache_seqlens = p.seqlens;
  dargs.tile_scheduler_metadata = margs.tile_scheduler_metadata;
  dargs.num_splits = margs.num_splits;
  dargs.softmax_scale = p.softmax_scale;
  dargs.causal = p.causal;
  dargs.out = device_tensor(out.get(), p.dtype, dev, {p.b, p.s_q, p.h_q, kHeadDimV});
  dargs.lse = device_tensor(lse.get(), DType::kFloat32, dev, {p.b, p.h_q, p.s_q});
  dargs.workspace = ws.get();
  dargs.workspace_bytes = ws.bytes();
  dargs.stream = stream;

  if (!graph) {
    r.status = get_mla_metadata(margs);
    if (r.status.ok()) r.status = mla_decode_with_kvcache(dargs);
  } else {
    // The whole decode step, metadata included, inside one graph: it must need no host sync.
    cudaGraph_t g = nullptr;
    cudaGraphExec_t exec = nullptr;
    if (cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
      r.status = Status(StatusCode::kCudaError, "cudaStreamBeginCapture failed");
      return r;
    }
    r.status = get_mla_metadata(margs);
    if (r.status.ok()) r.status = mla_decode_with_kvcache(dargs);
    const cudaError_t end = cudaStreamEndCapture(stream, &g);
    if (r.status.ok() && end != cudaSuccess)
      r.status = Status(StatusCode::kCudaError, std::string("capture: ") + cudaGetErrorString(end));
    if (r.status.ok() && cudaGraphInstantiate(&exec, g, 0) != cudaSuccess)
      r.status = Status(StatusCode::kCudaError, "cudaGraphInstantiate failed");
    for (int i = 0; r.status.ok() && i < replays; ++i) {
      if (cudaGraphLaunch(exec, stream) != cudaSuccess)
        r.status = Status(StatusCode::kCudaError, "cudaGraphLaunch failed");
    }
    if (exec) cudaGraphExecDestroy(exec);
    if (g) cudaGraphDestroy(g);
  }
  const cudaError_t sync = cudaStreamSynchronize(stream);
  if (r.status.ok() && sync != cudaSuccess)
    r.status = Status(StatusCode::kCudaError, std::string("kernel failed: ") + cudaGetErrorString(sync));
  if (!r.status.ok()) return r;

  r.metadata.resize(static_cast<size_t>(parts) * kMetadataFields);
  r.num_splits.resize(static_cast<size_t>(p.b + 1));
  r.out.resize(static_cast<size_t>(out_n));
  r.lse.resize(static_cast<size_t>(lse_n));
  cudaMemcpy(r.metadata.data(), meta.get(), meta.bytes(), cudaMemcpyDeviceToHost);
  cudaMemcpy(r.num_splits.data(), splits.get(), splits.bytes(), cudaMemcpyDeviceToHost);
  cudaMemcpy(r.out.data(), out.get(), out.bytes(), cudaMemcpyDeviceToHost);
  cudaMemcpy(r.lse.data(), lse.get(), lse.bytes(), cudaMemcpyDeviceToHost);
  for (uint16_t v : r.out) r.unwritten_out += is_nan_half(v, p.dtype) ? 1 : 0;
  for (float v : r.lse) r.unwritten_lse += std::isnan(v) ? 1 : 0;
  return r;
}

UploadedProblem::UploadedProblem(const DecodeProblem& host, int device_index) {
  const Device dev{DeviceType::kCUDA, device_index};
  q.resize(host.q.size() * 2);
  k_cache.resize(host.k_cache.size() * 2);
  block_table.resize(std::max<size_t>(host.block_table.size(), 1) * 4);
  seqlens.resize(host.seqlens.size() * 4);
  cudaMemcpy(q.get(), host.q.data(), q.bytes(), cudaMemcpyHostToDevice);
  cudaMemcpy(k_cache.get(), host.k_cache.data(), k_cache.bytes(), cudaMemcpyHostToDevice);
  cudaMemcpy(block_table.get(), host.block_table.data(), host.block_table.size() * 4,
             cudaMemcpyHostToDevice);
  cudaMemcpy(seqlens.get(), host.seqlens.data(), seqlens.bytes(), cudaMemcpyHostToDevice);
  view.q = host.q_view(q.get(), dev);
  view.k_cache = host.k_cache_view(k_cache.get(), dev);
  view.block_table = host.block_table_view(block_table.get(), dev);
  view.seqlens = host.seqlens_view(seqlens.get(), dev);
  view.b = host.spec.b;
  view.s_q = host.spec.s_q;
  view.h_q = host.spec.h_q;
  view.h_kv = host.spec.h_kv;
  view.dtype = host.spec.dtype;
  view.causal = host.spec.causal;
  view.softmax_scale = host.spec.softmax_scale;
}

namespace {

Status copy_to_host(void* dst, const void* src, size_t bytes, const char* what) {
  const cudaError_t e = cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost);
  if (e == cudaSuccess) return Status::Ok();
  return Status(StatusCode::kCudaError,
                std::string("extract_sequences: copying ") + what + ": " + cudaGetErrorString(e));
}

// Elements from a view's first element to one past its last for the given leading dims, with the
// last dim (576 wide) contiguous.
int64_t span_of(const TensorView& t, int64_t n1, int64_t n2) {
  return (n1 - 1) * t.stride[1] + (n2 - 1) * t.stride[2] + kHeadDimK;
}

}  // namespace

Status extract_sequences(const DeviceProblem& p, const std::vector<int64_t>& picks,
                         DecodeProblem* sub) {
  *sub = DecodeProblem();
  ProblemSpec& spec = sub->spec;
  spec.b = static_cast<int64_t>(picks.size());
  spec.s_q = p.s_q;
  spec.h_q = p.h_q;
  spec.h_kv = p.h_kv;
  spec.dtype = p.dtype;
  spec.causal = p.causal;
  spec.softmax_scale = p.softmax_scale;

  // Lengths and the used part of each block table row (the table's last dim is contiguous).
  std::vector<std::vector<int32_t>> rows(picks.size());
  for (size_t i = 0; i < picks.size(); ++i) {
    int32_t len = 0;
    const int32_t* d_len = static_cast<const int32_t*>(p.seqlens.data) + picks[i];
    Status st = copy_to_host(&len, d_len, sizeof(len), "cache_seqlens");
    if (!st.ok()) return st;
    sub->seqlens.push_back(len);
    rows[i].resize(static_cast<size_t>(len <= 0 ? 0 : (int64_t{len} + kPageSize - 1) / kPageSize));
    const int32_t* d_row =
        static_cast<const int32_t*>(p.block_table.data) + picks[i] * p.block_table.stride[0];
    if (!rows[i].empty()) {
      st = copy_to_host(rows[i].data(), d_row, rows[i].size() * 4, "block_table");
      if (!st.ok()) return st;
    }
    sub->num_blocks += static_cast<int64_t>(rows[i].size());
    sub->max_blocks = std::max<int64_t>(sub->max_blocks, static_cast<int64_t>(rows[i].size()));
  }
  sub->max_blocks = std::max<int64_t>(sub->max_blocks, 1);

  // Pages keep the device's token and head strides; only the page stride shrinks to the span a
  // page's data occupies. A batch of empty sequences still gets one (NaN) page to point at.
  const int64_t page_span = span_of(p.k_cache, kPageSize, p.h_kv);
  for (int d = 1; d < 4; ++d) sub->k_stride[d] = p.k_cache.stride[d];
  sub->k_stride[3] = 1;
  sub->k_stride[0] = page_span;
  const int64_t host_pages = std::max<int64_t>(sub->num_blocks, 1);
  sub->num_blocks = host_pages;
  sub->k_cache.assign(static_cast<size_t>(host_pages * page_span), half_quiet_nan(p.dtype));
  sub->table_stride[0] = sub->max_blocks;
  sub->table_stride[1] = 1;
  sub->block_table.assign(static_cast<size_t>(spec.b * sub->max_blocks), -1);
  const uint16_t* d_cache = static_cast<const uint16_t*>(p.k_cache.data);
  int64_t next_page = 0;
  for (size_t i = 0; i < picks.size(); ++i) {
    for (size_t j = 0; j < rows[i].size(); ++j) {
      Status st = copy_to_host(sub->k_cache.data() + next_page * page_span,
                               d_cache + int64_t{rows[i][j]} * p.k_cache.stride[0],
                               static_cast<size_t>(page_span) * 2, "k_cache page");
      if (!st.ok()) return st;
      sub->block_table[static_cast<size_t>(static_cast<int64_t>(i) * sub->max_blocks) + j] =
          static_cast<int32_t>(next_page++);
    }
  }

  const int64_t q_span = span_of(p.q, p.s_q, p.h_q);
  for (int d = 1; d < 4; ++d) sub->q_stride[d] = p.q.stride[d];
  sub->q_stride[3] = 1;
  sub->q_stride[0] = q_span;
  sub->q.assign(static_cast<size_t>(spec.b * q_span), half_quiet_nan(p.dtype));
  const uint16_t* d_q = static_cast<const uint16_t*>(p.q.data);
  for (size_t i = 0; i < picks.size(); ++i) {
    Status st = copy_to_host(sub->q.data() + static_cast<int64_t>(i) * q_span,
                             d_q + picks[i] * p.q.stride[0], static_cast<size_t>(q_span) * 2, "q");
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

void select_sequences(const GpuOutputs& gpu, const DeviceProblem& p,
                      const std::vector<int64_t>& picks, std::vector<uint16_t>* out,
                      std::vector<float>* lse) {
  const int64_t out_seq = int64_t{p.s_q} * p.h_q * kHeadDimV;
  const int64_t lse_seq = int64_t{p.h_q} * p.s_q;
  out->clear();
  lse->clear();
  for (int64_t n : picks) {
    out->insert(out->end(), gpu.out.begin() + n * out_seq, gpu.out.begin() + (n + 1) * out_seq);
    lse->insert(lse->end(), gpu.lse.begin() + n * lse_seq, gpu.lse.begin() + (n + 1) * lse_seq);
  }
}

SampleCheck check_sequences_on_cpu(const DeviceProblem& p, const GpuOutputs& gpu,
                                   const std::vector<int64_t>& picks, int cpu_parts) {
  SampleCheck c;
  DecodeProblem sub;
  c.status = extract_sequences(p, picks, &sub);
  if (!c.status.ok()) return c;
  c.kv_tokens = sub.total_tokens();
  const auto start = std::chrono::steady_clock::now();
  const CpuRun cpu = run_cpu(sub, cpu_parts);
  c.cpu_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  c.status = cpu.status;
  if (!c.status.ok()) return c;
  c.cpu_unwritten = cpu.unwritten_out + cpu.unwritten_lse;
  std::vector<uint16_t> gpu_out;
  std::vector<float> gpu_lse;
  select_sequences(gpu, p, picks, &gpu_out, &gpu_lse);
  c.out_err = rel_error(widen(gpu_out, p.dtype), widen(cpu.out, p.dtype));
  c.lse_err = lse_rel_error(widen(gpu_lse), widen(cpu.lse));
  return c;
}

}  // namespace test
}  // namespace flashmla
