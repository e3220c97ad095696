// Launchers of the decode + combine kernels, one per element type, each in its own translation
// unit (decode_bf16.cu, decode_fp16.cu) to keep compile times down.
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include "flashmla/status.h"
#include "sm90/decode_params.h"
#include "sm90/narrow_launch.h"
#include "sm90/seesaw_launch.h"

namespace flashmla {
namespace sm90 {

// Which decode kernel serves which row tile. kAuto: the narrow kernel (narrow_kernel.cuh) for up
// to 32 rows per kv head, and for 33-64 where the bandwidth per SM is below
// kNarrowDualMaxGbsPerSm; the seesaw kernel (seesaw_kernel.cuh) for the rest (64-row tiles).
// Where the cache's TMA descriptor cannot be built, the mma.sync kernel (decode_kernel.cuh) serves
// 16- and 32-row tiles and the first warpgroup-MMA kernel 64-row tiles. The others are for
// comparisons (FLASHMLA_DECODE_KERNEL, see decode.cu): seesaw on every shape (rows padded to 64),
// the first warpgroup-MMA kernel for 64-row tiles, mma.sync everywhere, or kNarrow: the narrow
// kernel on every shape of up to 64 rows.
enum class KernelChoice { kAuto, kSeesawAll, kWgmma, kMma, kNarrow };

// The kernel choice and the tuning knobs, fixed per process (decode.cu reads them from the
// environment, for comparisons; bench/NOTES.md says what each measured).
struct KernelTuning {
  KernelChoice choice = KernelChoice::kAuto;
  SeesawOptions seesaw;  // its peak_gbs_per_sm (set per call) also steers wants_narrow
  int sm_count = 132;    // of the call's device (decode.cu fills it in): sizes the combine's blocks
  // Whether the seesaw kernel loads Q with TMA where the shape allows (tensor_map.h): -1 (default)
  // per wants_q_tma, 0 never, 1 wherever the shape allows and no row-tile pairs run (FLASHMLA_Q_TMA
  // "0" / "1"; the TMA instances are single blocks only, seesaw_launch.cuh).
  int q_tma = -1;
};

// Per-SM bandwidth from which 33-64 rows go to the seesaw kernel: two math warpgroups of 32 rows
// on one ring measured 1-2% faster than the seesaw kernel's one 64-row tile on the H100 (25.4 GB/s
// per SM), 7-10% slower on the H200 (37.3), where the two warpgroups' tensor work per page takes
// longer than the page's load (bench/NOTES.md step 25).
constexpr double kNarrowDualMaxGbsPerSm = 30.0;

// Whether `choice` sends a shape with q_rows query rows per kv head to the narrow kernel on a
// device with peak_gbs_per_sm (0: unknown) of DRAM bandwidth per SM (the narrow kernel also needs
// the TMA descriptor; without one, the mma.sync kernel serves the shape).
inline bool wants_narrow(KernelChoice choice, int q_rows, double peak_gbs_per_sm) {
  if (choice == KernelChoice::kNarrow) return q_rows <= kNarrowMaxRows;
  if (choice != KernelChoice::kAuto) return false;
  return q_rows <= 32 || (q_rows <= kNarrowMaxRows && peak_gbs_per_sm < kNarrowDualMaxGbsPerSm);
}

// Whether `choice` sends the shape to the seesaw kernel (which also needs the cache's TMA
// descriptor; without one the launcher falls back).
inline bool wants_seesaw(KernelChoice choice, int q_rows, double peak_gbs_per_sm) {
  if (choice == KernelChoice::kSeesawAll) return true;
  if (choice != KernelChoice::kAuto && choice != KernelChoice::kNarrow) return false;
  return !wants_narrow(choice, q_rows, peak_gbs_per_sm);
}

// Q by TMA measured 3-4% faster on small batches (b = 1; bench/NOTES.md steps 44 and 46). By
// default it is used below kMinBatchForClusters sequences; larger batches run row-tile pairs,
// which have no TMA instance.
inline bool wants_q_tma(int mode, int64_t batch) {
  return mode < 0 ? batch < kMinBatchForClusters : mode == 1;
}

// k_map: the cache's TMA descriptor, or nullptr where it was not needed or could not be built
// (then no seesaw); q_map: the seesaw kernel's Q tile descriptor (make_q_tile_tensor_map), or
// nullptr (Q then loaded with cp.async).
Status launch_decode_bf16(const DecodeParams& params, const CUtensorMap* k_map, const CUtensorMap* q_map,
                          int num_sm_parts, const KernelTuning& tuning, cudaStream_t stream);
Status launch_decode_fp16(const DecodeParams& params, const CUtensorMap* k_map, const CUtensorMap* q_map,
                          int num_sm_parts, const KernelTuning& tuning, cudaStream_t stream);

}  // namespace sm90
}  // namespace flashmla
