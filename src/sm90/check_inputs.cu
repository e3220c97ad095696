// Input-checking mode: a small kernel validates the data the decode would otherwise trust
// (cache_seqlens, the used block_table entries, the metadata's stamps) and reports the first
// problem it records, so that a bad input becomes a clear error instead of an out-of-bounds read.
// Then the plan is checked against the lengths on the host, on copies taken in the same
// synchronisation: the same check as for host tensors (core/validate.h), so that a plan made for
// other cache_seqlens of the same shape is caught too. The kernel gathers those copies into the
// workspace behind its report, so that one device-to-host copy brings everything.
#include <cstring>
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
constexpr int64_t kReportWords = sizeof(Report) / sizeof(int32_t);

// The host's copy of the plan and the lengths, gathered behind the report: [metadata: parts x 8]
// [num_splits: batch + 1] [cache_seqlens: batch], int32.
struct Mirror {
  int64_t metadata, splits, lens, total;  // offsets and total, in int32 elements
  __host__ __device__ Mirror(int parts, int64_t batch)
      : metadata(0), splits(static_cast<int64_t>(parts) * kMetadataFields), lens(splits + batch + 1),
        total(lens + batch) {}
};

// Grid: one block per sequence (grid-stride); block 0 also checks the metadata stamps. All
// threads gather the mirror (grid-stride).
__global__ void __launch_bounds__(kCheckThreads) mla_check_inputs_kernel(
    const int32_t* seqlens, int64_t batch, const int32_t* block_table, int64_t block_table_stride,
    int64_t max_blocks_per_seq, int64_t num_blocks, const int32_t* metadata, int num_parts,
    int q_rows, int h_kv, const int32_t* num_splits, Report* report, int32_t* mirror) {
  const Mirror m(num_parts, batch);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < m.total; i += stride) {
    mirror[i] = i < m.splits ? metadata[i] : i < m.lens ? num_splits[i - m.splits] : seqlens[i - m.lens];
  }
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
  // The report and the mirror live at the start of the workspace, which the decode overwrites
  // afterwards. decode_workspace_size() is always larger (it holds at least b + parts - 1 split
  // rows of 513 floats per query row); checked anyway.
  Report* report = static_cast<Report*>(args.workspace);
  const Mirror m(shape.num_sm_parts, shape.batch);
  int32_t* mirror = reinterpret_cast<int32_t*>(report) + kReportWords;
  if (args.workspace_bytes < (kReportWords + m.total) * sizeof(int32_t))
    return Status(StatusCode::kInternalError, "check_inputs: the workspace cannot hold the plan's copy");
  FLASHMLA_CUDA_RETURN(cudaMemsetAsync(report, 0, sizeof(Report), stream));
  const int64_t blocks = shape.batch < 4096 ? shape.batch : 4096;
  mla_check_inputs_kernel<<<static_cast<unsigned>(blocks), kCheckThreads, 0, stream>>>(
      static_cast<const int32_t*>(args.cache_seqlens.data), shape.batch,
      static_cast<const int32_t*>(args.block_table.data), args.block_table.stride[0],
      shape.max_blocks_per_seq, shape.num_blocks,
      static_cast<const int32_t*>(args.tile_scheduler_metadata.data), shape.num_sm_parts,
      shape.q_rows, shape.h_kv, static_cast<const int32_t*>(args.num_splits.data), report, mirror);
  FLASHMLA_CHECK_LAUNCH("mla_check_inputs_kernel launch");
  // One copy: the report, then the mirror (a few KB even at b = 4096).
  std::vector<int32_t> host_words(static_cast<size_t>(kReportWords + m.total));
  FLASHMLA_CUDA_RETURN(cudaMemcpyAsync(host_words.data(), report, host_words.size() * sizeof(int32_t),
                                       cudaMemcpyDeviceToHost, stream));
  FLASHMLA_CUDA_RETURN(cudaStreamSynchronize(stream));
  Report host;
  std::memcpy(&host, host_words.data(), sizeof(Report));
  const int32_t* copy = host_words.data() + kReportWords;
  const std::string seq = std::to_string(host.index);
  switch (host.problem) {
    case kNoProblem:
      // Lengths, pages and stamps are valid: the coverage check may rely on them.
      return check_plan_against_lengths(copy + m.metadata, shape.num_sm_parts, copy + m.splits, copy + m.lens,
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
