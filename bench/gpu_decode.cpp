#include "gpu_decode.h"

#if defined(FLASHMLA_WITH_CUDA)

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "gpu_util.h"
#include "host_decode.h"
#include "roofline.h"

namespace bench {
namespace gpu {

namespace {

using flashmla::DType;
using flashmla::Status;
using flashmla::TensorView;

// Device memory left free when sizing the rotated cache copies: room for the library's workspace,
// cuBLAS and the CUDA context.
constexpr size_t kMemoryReserve = size_t{2} << 30;
constexpr int kMetadataIters = 20;

Status annotate(const Status& st, const std::string& where) {
  if (st.ok()) return st;
  return Status(st.code(), where + ": " + st.message());
}

// Owners of a captured graph and its executable form.
struct GraphOwner {
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  GraphOwner() = default;
  GraphOwner(const GraphOwner&) = delete;
  GraphOwner& operator=(const GraphOwner&) = delete;
  ~GraphOwner() {
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
  }
};

struct DeviceProblem {
  DeviceBuffer q, block_table, seqlens, metadata, num_splits, out, lse, workspace;
  std::vector<DeviceBuffer> caches;
};

Status upload(const HostProblem& p, int copies, int parts, DeviceProblem* d) {
  const size_t cache_bytes = static_cast<size_t>(p.k_cache.bytes());
  BENCH_RETURN_IF_ERROR(d->q.allocate(static_cast<size_t>(p.q.bytes()), "q"));
  BENCH_RETURN_IF_ERROR(
      d->block_table.allocate(p.block_table.size() * sizeof(int32_t), "block_table"));
  BENCH_RETURN_IF_ERROR(d->seqlens.allocate(p.seqlens.size() * sizeof(int32_t), "cache_seqlens"));
  BENCH_RETURN_IF_ERROR(
      d->metadata.allocate(static_cast<size_t>(parts) * flashmla::kMetadataFields * sizeof(int32_t),
                           "tile_scheduler_metadata"));
  BENCH_RETURN_IF_ERROR(
      d->num_splits.allocate(static_cast<size_t>(p.spec.b + 1) * sizeof(int32_t), "num_splits"));
  BENCH_RETURN_IF_ERROR(d->out.allocate(static_cast<size_t>(p.out_elems()) * 2, "out"));
  BENCH_RETURN_IF_ERROR(d->lse.allocate(static_cast<size_t>(p.lse_elems()) * 4, "lse"));
  const size_t ws =
      flashmla::decode_workspace_size(p.spec.b, parts, p.spec.q_rows_per_kv_head(), p.spec.h_kv);
  BENCH_RETURN_IF_ERROR(d->workspace.allocate(ws, "workspace"));
  d->caches.resize(static_cast<size_t>(copies));
  for (int c = 0; c < copies; ++c)
    BENCH_RETURN_IF_ERROR(d->caches[c].allocate(cache_bytes, "k_cache"));

  BENCH_CUDA(cudaMemcpy(d->q.get(), p.q.get(), d->q.bytes(), cudaMemcpyHostToDevice));
  BENCH_CUDA(cudaMemcpy(d->block_table.get(), p.block_table.data(), d->block_table.bytes(),
                        cudaMemcpyHostToDevice));
  BENCH_CUDA(
      cudaMemcpy(d->seqlens.get(), p.seqlens.data(), d->seqlens.bytes(), cudaMemcpyHostToDevice));
  BENCH_CUDA(cudaMemcpy(d->caches[0].get(), p.k_cache.get(), cache_bytes, cudaMemcpyHostToDevice));
  for (int c = 1; c < copies; ++c) {
    BENCH_CUDA(
        cudaMemcpy(d->caches[c].get(), d->caches[0].get(), cache_bytes, cudaMemcpyDeviceToDevice));
  }
  return Status::Ok();
}

// How many cache copies the graph protocol can rotate over without running out of memory.
Status affordable_copies(size_t cache_bytes, int wanted, int* copies) {
  size_t free_b = 0, total_b = 0;
  BENCH_CUDA(cudaMemGetInfo(&free_b, &total_b));
  const size_t usable = free_b > kMemoryReserve ? free_b - kMemoryReserve : 0;
  const size_t fit = cache_bytes == 0 ? static_cast<size_t>(wanted) : usable / cache_bytes;
  *copies = static_cast<int>(std::max<size_t>(1, std::min<size_t>(wanted, fit)));
  if (*copies < wanted) {
    std::fprintf(stderr,
                 "flashmla-bench: note: only %d cache copies of %s fit in device memory; the L2 "
                 "may hold part of the cache between calls\n",
                 *copies, format_bytes(static_cast<double>(cache_bytes)).c_str());
  }
  return Status::Ok();
}

Status download(const HostProblem& p, const DeviceProblem& d, cudaStream_t stream,
                HostArray<uint16_t>* out, std::vector<float>* lse) {
  out->allocate(p.out_elems());
  lse->resize(static_cast<size_t>(p.lse_elems()));
  BENCH_CUDA(cudaStreamSynchronize(stream));
  BENCH_CUDA(cudaMemcpy(out->get(), d.out.get(), d.out.bytes(), cudaMemcpyDeviceToHost));
  BENCH_CUDA(cudaMemcpy(lse->data(), d.lse.get(), d.lse.bytes(), cudaMemcpyDeviceToHost));
  return Status::Ok();
}

}  // namespace

Status run_gpu_problem(const HostProblem& p, const GpuRunOptions& opts, cudaStream_t stream,
                       GpuRunResult* result) {
  const flashmla::Device dev{flashmla::DeviceType::kCUDA, 0};
  const int q_rows = p.spec.q_rows_per_kv_head();
  int parts = 0;
  BENCH_RETURN_IF_ERROR(
      annotate(flashmla::get_num_sm_parts(dev, q_rows, p.spec.h_kv, &parts), "get_num_sm_parts"));
  result->num_sm_parts = parts;

  int copies = 1;
  if (opts.timing == TimingMode::kGraph)
    BENCH_RETURN_IF_ERROR(
        affordable_copies(static_cast<size_t>(p.k_cache.bytes()), kGraphCalls, &copies));
  result->cache_copies = copies;
  DeviceProblem d;
  BENCH_RETURN_IF_ERROR(upload(p, copies, parts, &d));

  flashmla::MetadataArgs margs;
  margs.cache_seqlens = seqlens_view(p, dev, d.seqlens.get());
  margs.q_rows_per_kv_head = q_rows;
  margs.h_kv = p.spec.h_kv;
  margs.tile_scheduler_metadata = TensorView::contiguous(d.metadata.get(), DType::kInt32, dev,
                                                         {parts, flashmla::kMetadataFields});
  margs.num_splits = TensorView::contiguous(d.num_splits.get(), DType::kInt32, dev, {p.spec.b + 1});
  margs.stream = stream;
  {
    EventTimer timer;
    BENCH_RETURN_IF_ERROR(timer.create(kMetadataIters));
    for (int i = 0; i < kMetadataIters; ++i) {
      BENCH_RETURN_IF_ERROR(timer.start(i, stream));
      BENCH_RETURN_IF_ERROR(annotate(flashmla::get_mla_metadata(margs), "get_mla_metadata"));
      BENCH_RETURN_IF_ERROR(timer.stop(i, stream));
    }
    std::vector<double> times;
    BENCH_RETURN_IF_ERROR(annotate(timer.elapsed_s(&times), "after get_mla_metadata"));
    result->metadata_s = median(times);
  }

  flashmla::DecodeArgs base;
  base.q = q_view(p, dev, d.q.get());
  base.block_table = block_table_view(p, dev, d.block_table.get());
  base.cache_seqlens = margs.cache_seqlens;
  base.tile_scheduler_metadata = margs.tile_scheduler_metadata;
  base.num_splits = margs.num_splits;
  base.causal = p.spec.causal;
  base.out = out_view(p, dev, d.out.get());
  base.lse = lse_view(p, dev, d.lse.get());
  base.workspace = d.workspace.get();
  base.workspace_bytes = d.workspace.bytes();
  base.stream = stream;
  auto decode = [&](int copy, bool check_inputs) -> Status {
    flashmla::DecodeArgs args = base;
    args.k_cache = cache_view(p, dev, d.caches[copy % copies].get());
    args.check_inputs = check_inputs;
    return annotate(flashmla::mla_decode_with_kvcache(args), "mla_decode_with_kvcache");
  };

  // First call: outputs poisoned (all-ones bytes are NaN in every dtype) and inputs checked on the
  // device, so that a benchmark bug reports a bad value instead of reading out of bounds.
  BENCH_CUDA(cudaMemsetAsync(d.out.get(), 0xff, d.out.bytes(), stream));
  BENCH_CUDA(cudaMemsetAsync(d.lse.get(), 0xff, d.lse.bytes(), stream));
  BENCH_RETURN_IF_ERROR(decode(0, true));
  BENCH_RETURN_IF_ERROR(annotate(
      [&]() -> Status {
        BENCH_CUDA(cudaStreamSynchronize(stream));
        BENCH_CUDA(cudaGetLastError());
        return Status::Ok();
      }(),
      "first decode call"));
  HostArray<uint16_t> first_out;
  std::vector<float> first_lse;
  BENCH_RETURN_IF_ERROR(download(p, d, stream, &first_out, &first_lse));

  std::vector<double> times;
  if (opts.timing == TimingMode::kPlain) {
    for (int i = 0; i < opts.warmup; ++i) BENCH_RETURN_IF_ERROR(decode(0, false));
    EventTimer timer;
    BENCH_RETURN_IF_ERROR(timer.create(opts.iters));
    for (int i = 0; i < opts.iters; ++i) {
      BENCH_RETURN_IF_ERROR(timer.start(i, stream));
      BENCH_RETURN_IF_ERROR(decode(0, false));
      BENCH_RETURN_IF_ERROR(timer.stop(i, stream));
    }
    BENCH_RETURN_IF_ERROR(annotate(timer.elapsed_s(&times), "timed decode calls"));
    result->decode_s = median(times);
  } else {
    // One more plain call on every copy first: lazy set-up inside the library (kernel attributes,
    // device properties) then happens outside the capture.
    for (int c = 0; c < copies; ++c) BENCH_RETURN_IF_ERROR(decode(c, false));
    BENCH_CUDA(cudaStreamSynchronize(stream));
    GraphOwner g;
    BENCH_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed));
    for (int c = 0; c < kGraphCalls; ++c) {
      const Status st = decode(c, false);
      if (!st.ok()) {
        cudaStreamEndCapture(stream, &g.graph);  // leaves the stream usable; the error wins
        cudaGetLastError();
        return annotate(st, "during CUDA graph capture");
      }
    }
    BENCH_CUDA(cudaStreamEndCapture(stream, &g.graph));
    BENCH_CUDA(cudaGraphInstantiate(&g.exec, g.graph, 0));
    for (int i = 0; i < opts.warmup; ++i) BENCH_CUDA(cudaGraphLaunch(g.exec, stream));
    EventTimer timer;
    BENCH_RETURN_IF_ERROR(timer.create(opts.iters));
    for (int i = 0; i < opts.iters; ++i) {
      BENCH_RETURN_IF_ERROR(timer.start(i, stream));
      BENCH_CUDA(cudaGraphLaunch(g.exec, stream));
      BENCH_RETURN_IF_ERROR(timer.stop(i, stream));
    }
    BENCH_RETURN_IF_ERROR(annotate(timer.elapsed_s(&times), "timed graph replays"));
    result->decode_s = median(times) / kGraphCalls;
  }

  HostArray<uint16_t> last_out;
  std::vector<float> last_lse;
  BENCH_RETURN_IF_ERROR(download(p, d, stream, &last_out, &last_lse));

  if (opts.check) {
    CpuReference ref;
    BENCH_RETURN_IF_ERROR(annotate(make_cpu_reference(p, &ref), "CPU reference"));
    result->errors = worse_of(compare_with_reference(p, ref, first_out.get(), first_lse.data()),
                              compare_with_reference(p, ref, last_out.get(), last_lse.data()));
  }
  return Status::Ok();
}

}  // namespace gpu
}  // namespace bench

#endif  // FLASHMLA_WITH_CUDA
