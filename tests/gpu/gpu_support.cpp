#include "gpu/gpu_support.h"

#include <algorithm>

#include <cmath>
#include <cstring>

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

}  // namespace test
}  // namespace flashmla
