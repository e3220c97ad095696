// Input-checking mode: a small kernel validates the data the decode would otherwise trust
// (cache_seqlens, the used block_table entries, the metadata's stamps) and reports the first
// problem it records, so that a bad input becomes a clear error instead of an out-of-bounds read.
// Then the plan is checked against the lengths on the host, on copies taken in the same
// synchronisation: the same check as for host tensors (core/validate.h), so that a plan made for
// other cache_seqlens of the same shape is caught too.
#include <string>
#include <vector>

#include "core/scheduler.h"
#include "core/validate.h"
#include "sm90/cuda_check.h"
#include "sm90/sm90_backend.h"

namespace flashmla {
namespace sm90 {

namespace {

enum Problem : int32_t {
  kNoProblem = 0,
  kBadSeqlen = 1,
  kBadPage = 2,
  kBadStamp = 3,
};

struct Report {
  int32_t problem;
  int32_t index;     // sequence (or metadata row)
  int32_t position;  // page index within the sequence (or metadata field)
  int32_t value;     // the offending value
};

__device__ void record(Report* report, int32_t problem, int32_t index, int32_t position, int32_t value) {
  if (atomicCAS(&report->problem, kNoProblem, -1) == kNoProblem) {
    report->index = index;
    report->position = position;
    report->value = value;
    __threadfence();
    atomicExch(&report->problem, problem);
  }
}

constexpr int kCheckThreads = 256;

// Grid: one block per sequence (grid-stride); block 0 also checks the metadata stamps.
__global__ void __launch_bounds__(kCheckThreads) mla_check_inputs_kernel(
    const int32_t* seqlens, int64_t batch, const int32_t* block_table, int64_t block_table_stride,
    int64_t max_blocks_per_seq, int64_t num_blocks, const int32_t* metadata, int num_parts,
    int q_rows, int h_kv, Report* report) {
  if (blockIdx.x == 0) {
    for (int p = threadIdx.x; p < num_parts; p += blockDim.x) {
      const int32_t* row = metadata + static_cast<int64_t>(p) * kMetadataFields;
      if (row[scheduler::kStampBatch] != batch) record(report, kBadStamp, p, scheduler::kStampBatch, row[scheduler::kStampBatch]);
      if (row[scheduler::kStampRows] != q_rows) record(report, kBadStamp, p, scheduler::kStampRows, row[scheduler::kStampRows]);
      if (row[scheduler::kStampHeadsKV] != h_kv) record(report, kBadStamp, p, scheduler::kStampHeadsKV, row[scheduler::kStampHeadsKV]);
    }
  }
  for (int64_t seq = blockIdx.x; seq < batch; seq += gridDim.x) {
    const int32_t seqlen = seqlens[seq];
    if (seqlen < 0 || seqlen > max_blocks_per_seq * kPageSize) {
      if (threadIdx.x == 0) record(report, kBadSeqlen, static_cast<int32_t>(seq), 0, seqlen);
      continue;
    }
    const int64_t pages = scheduler::pages_of(seqlen);
    const int32_t* table = block_table + seq * block_table_stride;
    for (int64_t j = threadIdx.x; j < pages; j += blockDim.x) {
      const int32_t page = table[j];
      if (page < 0 || page >= num_blocks) record(report, kBadPage, static_cast<int32_t>(seq), static_cast<int32_t>(j), page);
    }
  }
}

}  // namespace

Status check_inputs(const DecodeArgs& args, const DecodeShape& shape) {
  DeviceGuard guard(args.q.device.index);
  FLASHMLA_CUDA_RETURN(guard.error());
  cudaStream_t stream = static_cast<cudaStream_t>(args.stream);
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  FLASHMLA_CUDA_RETURN(cudaStreamIsCapturing(stream, &capture));
  if (capture != cudaStreamCaptureStatusNone)
    return Status(StatusCode::kInvalidArgument,
                  "check_inputs: input checking synchronises the stream and cannot run during CUDA "
                  "graph capture; unset DecodeArgs::check_inputs / FLASHMLA_CHECK_INPUTS when capturing");
  // The report lives at the start of the workspace, which the decode overwrites afterwards.
  Report* report = static_cast<Report*>(args.workspace);
  FLASHMLA_CUDA_RETURN(cudaMemsetAsync(report, 0, sizeof(Report), stream));
  const int64_t blocks = shape.batch < 4096 ? shape.batch : 4096;
  mla_check_inputs_kernel<<<static_cast<unsigned>(blocks), kCheckThreads, 0, stream>>>(
      static_cast<const int32_t*>(args.cache_seqlens.data), shape.batch,
      static_cast<const int32_t*>(args.block_table.data), args.block_table.stride[0],
      shape.max_blocks_per_seq, shape.num_blocks,
      static_cast<const int32_t*>(args.tile_scheduler_metadata.data), shape.num_sm_parts,
      shape.q_rows, shape.h_kv, report);
  FLASHMLA_CHECK_LAUNCH("mla_check_inputs_kernel launch");
  Report host{};
  FLASHMLA_CUDA_RETURN(cudaMemcpyAsync(&host, report, sizeof(Report), cudaMemcpyDeviceToHost, stream));
  // The plan and the lengths, for the host's coverage check (a few KB even at b = 4096).
  std::vector<int32_t> metadata(static_cast<size_t>(shape.num_sm_parts) * kMetadataFields);
  std::vector<int32_t> splits(static_cast<size_t>(shape.batch) + 1);
  std::vector<int32_t> lens(static_cast<size_t>(shape.batch));
  FLASHMLA_CUDA_RETURN(cudaMemcpyAsync(metadata.data(), args.tile_scheduler_metadata.data,
                                       metadata.size() * sizeof(int32_t), cudaMemcpyDeviceToHost, stream));
  FLASHMLA_CUDA_RETURN(cudaMemcpyAsync(splits.data(), args.num_splits.data, splits.size() * sizeof(int32_t),
                                       cudaMemcpyDeviceToHost, stream));
  FLASHMLA_CUDA_RETURN(cudaMemcpyAsync(lens.data(), args.cache_seqlens.data, lens.size() * sizeof(int32_t),
                                       cudaMemcpyDeviceToHost, stream));
  FLASHMLA_CUDA_RETURN(cudaStreamSynchronize(stream));
  const std::string seq = std::to_string(host.index);
  switch (host.problem) {
    case kNoProblem:
      // Lengths, pages and stamps are valid: the coverage check may rely on them.
      return check_plan_against_lengths(metadata.data(), shape.num_sm_parts, splits.data(), lens.data(),
                                        shape.batch);
    case kBadSeqlen:
      return Status(StatusCode::kInvalidInputData,
                    "cache_seqlens[" + seq + "] = " + std::to_string(host.value) +
                        " is outside [0, " + std::to_string(shape.max_blocks_per_seq * kPageSize) +
                        "] (the block table holds " + std::to_string(shape.max_blocks_per_seq) +
                        " pages of 64 tokens per sequence)");
    case kBadPage:
      return Status(StatusCode::kInvalidInputData,
                    "block_table[" + seq + "][" + std::to_string(host.position) + "] = " +
                        std::to_string(host.value) + " is outside [0, " +
                        std::to_string(shape.num_blocks) + ") (k_cache has " +
                        std::to_string(shape.num_blocks) + " pages)");
    case kBadStamp:
      return Status(StatusCode::kInvalidInputData,
                    "tile_scheduler_metadata row " + seq + " was planned for another shape (field " +
                        std::to_string(host.position) + " = " + std::to_string(host.value) +
                        "; expected b = " + std::to_string(shape.batch) + ", q_rows_per_kv_head = " +
                        std::to_string(shape.q_rows) + ", h_kv = " + std::to_string(shape.h_kv) +
                        "): call get_mla_metadata() again for this batch");
    default:
      return Status(StatusCode::kInternalError, "input check returned an unknown report");
  }
}

}  // namespace sm90
}  // namespace flashmla
