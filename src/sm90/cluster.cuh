// Thin wrappers over the sm_90 thread-block-cluster instructions the seesaw kernel uses when two
// blocks share each K page (seesaw_kernel.cuh): the block's rank in its cluster, addresses in a
// peer block's shared memory, arrivals on a peer's mbarrier, the cluster-wide barrier, and the TMA
// load that writes the same box into every block of the cluster.
#pragma once

#include <cuda.h>

#include <cstdint>

namespace flashmla {
namespace sm90 {

__device__ __forceinline__ uint32_t cluster_rank() {
  uint32_t rank;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(rank));
  return rank;
}

// The address, in the cluster's shared window, of the variable at `local` in block `rank`'s shared
// memory (the same offset as here).
__device__ __forceinline__ uint32_t peer_shared_addr(uint32_t local, uint32_t rank) {
  uint32_t remote;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(remote) : "r"(local), "r"(rank));
  return remote;
}

// One arrival on an mbarrier in another block of the cluster (`remote` from peer_shared_addr).
// Default (CTA-scope) semantics, as the callers' reads are complete by then (wgmma.wait_group):
// with .release.cluster ptxas emits a MEMBAR.ALL.GPU before every arrival, which made the kernel
// 3x slower (bench/NOTES.md).
__device__ __forceinline__ void mbarrier_arrive_peer(uint32_t remote) {
  asm volatile("mbarrier.arrive.shared::cluster.b64 _, [%0];\n" ::"r"(remote) : "memory");
}

// Every thread of every block of the cluster; whole warps (aligned).
__device__ __forceinline__ void cluster_sync() {
  asm volatile(
      "barrier.cluster.arrive.release.aligned;\n"
      "barrier.cluster.wait.acquire.aligned;\n" ::
          : "memory");
}

// TMA: tma_load_4d (mbarrier.cuh), but the box lands at `dst` in every block of `cta_mask`, each
// counting it on its own mbarrier at `bar`'s offset.
__device__ __forceinline__ void tma_load_4d_multicast(uint32_t dst, const CUtensorMap* map, uint32_t bar,
                                                     int c0, int c1, int c2, int c3, uint16_t cta_mask,
                                                     uint64_t policy) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.multicast::cluster"
      ".L2::cache_hint [%0], [%1, {%3, %4, %5, %6}], [%2], %7, %8;\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(bar), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "h"(cta_mask),
      "l"(policy)
      : "memory");
}

}  // namespace sm90
}  // namespace flashmla
