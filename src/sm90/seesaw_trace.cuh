// An optional timeline of the seesaw kernel, for performance work only: compiled in when the build
// defines FLASHMLA_SEESAW_TRACE (tools/seesaw_trace.sh builds and runs it), absent otherwise.
//
// One thread per role (each math warpgroup's first thread, the producer thread) of a few blocks
// (kv head 0, SM parts 0..3, row blocks 0..1) records (event, page, clock64) triples; after each
// launch the host copies them to the file named by FLASHMLA_SEESAW_TRACE_FILE (the last launch
// wins), which tools/seesaw_trace.py turns into per-step durations.
#pragma once

#include <cstdint>

namespace flashmla {
namespace sm90 {
namespace seesaw {

// Events, in the order a step happens. Math warpgroups:
enum TraceEvent : int {
  kTraceStatsWait = 0,      // read_other_stats: waits for the other's page
  kTraceStatsReady = 1,
  kTraceSWait = 2,          // own_softmax: waits for the page's S
  kTraceSReady = 3,
  kTracePublished = 4,      // P and statistics published
  kTraceOtherPvIssue = 5,   // apply_other_page: its value slabs have landed
  kTraceOtherPvDone = 6,
  kTraceOwnPvIssue = 7,     // apply_own_page
  kTraceOwnPvDone = 8,
  kTraceSIssue = 9,         // issue_s: begins, its first slab has landed, all issued
  kTraceSFirstSlab = 10,
  kTraceSIssued = 11,
  kTracePieceBegin = 12,    // a piece begins / its Q has landed
  kTraceQReady = 13,
  kTraceEpilogue = 14,      // store_piece begins / ends
  kTraceEpilogueDone = 15,
  // Producer:
  kTraceLoadBegin = 20,     // a page's turn (before prefetching and waiting for its buffer)
  kTraceBufferFree = 21,    // its first slab's buffer slot was released
  kTraceLoadIssued = 22,    // all 9 slab loads issued
};

constexpr int kTraceRoles = 3;  // math warpgroup 0, 1, producer
constexpr int kTraceParts = 4;
constexpr int kTraceRowBlocks = 2;
constexpr int kTraceBlocks = kTraceParts * kTraceRowBlocks;
constexpr int kTraceCapacity = 4096;  // events per role and block

}  // namespace seesaw
}  // namespace sm90
}  // namespace flashmla

#ifdef FLASHMLA_SEESAW_TRACE

namespace flashmla {
namespace sm90 {
namespace seesaw {

// Static: one copy per translation unit, read back by the launcher in the same unit.
static __device__ uint64_t g_trace[kTraceBlocks][kTraceRoles][kTraceCapacity];
static __device__ uint32_t g_trace_count[kTraceBlocks][kTraceRoles];

__device__ __forceinline__ int traced_block() {
  if (blockIdx.y != 0 || blockIdx.x >= kTraceParts || blockIdx.z >= kTraceRowBlocks) return -1;
  return static_cast<int>(blockIdx.x * kTraceRowBlocks + blockIdx.z);
}

// Each role's event count, kept in shared memory: reading it back from global memory cost every
// event a memory round trip (traced blocks at the ridge: 2.85 -> 2.78 us per page; untraced
// blocks run at about 2.45). The bench's time of a trace build also includes writing the trace
// after each launch: compare per-page times from the trace, not the bench's time.
__device__ __forceinline__ uint32_t* trace_counts() {
  __shared__ uint32_t counts[kTraceRoles];
  return counts;
}

// Called by thread 0 before the block's first barrier.
__device__ __forceinline__ void trace_reset() {
  const int b = traced_block();
  if (b < 0) return;
  for (int r = 0; r < kTraceRoles; ++r) {
    trace_counts()[r] = 0;
    g_trace_count[b][r] = 0;
  }
}

__device__ __forceinline__ void trace(int role, int event, int page) {
  const int b = traced_block();
  if (b < 0) return;
  const uint32_t n = trace_counts()[role];
  if (n >= kTraceCapacity) return;
  g_trace[b][role][n] = (static_cast<uint64_t>(event) << 56) |
                        (static_cast<uint64_t>(page & 0xffff) << 40) |
                        (static_cast<uint64_t>(clock64()) & 0xffffffffffull);
  trace_counts()[role] = n + 1;
  g_trace_count[b][role] = n + 1;  // a store only: the host reads it after the launch
}

}  // namespace seesaw
}  // namespace sm90
}  // namespace flashmla

// role: 0/1 (math warpgroup; only its first thread records), 2 (the producer thread).
#define SEESAW_TRACE_MATH(c, event, page) \
  do {                                    \
    if ((c).wg_tid == 0) ::flashmla::sm90::seesaw::trace((c).wg, (event), (page)); \
  } while (0)
#define SEESAW_TRACE_PRODUCER(event, page) ::flashmla::sm90::seesaw::trace(2, (event), (page))
#define SEESAW_TRACE_RESET() ::flashmla::sm90::seesaw::trace_reset()

#else

#define SEESAW_TRACE_MATH(c, event, page) ((void)0)
#define SEESAW_TRACE_PRODUCER(event, page) ((void)0)
#define SEESAW_TRACE_RESET() ((void)0)

#endif
