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
// to 64 rows per kv head, the seesaw kernel (seesaw_kernel.cuh) for more (64-row tiles); where
// the cache's TMA descriptor cannot be built, the mma.sync kernel (decode_kernel.cuh) serves
// 16- and 32-row tiles and the first warpgroup-MMA kernel 64-row tiles. The others are for comparisons (FLASHMLA_DECODE_KERNEL, see decode.cu): seesaw
// on every shape (rows padded to 64), the first warpgroup-MMA kernel for 64-row tiles, mma.sync
// everywhere, or kNarrow, which today equals kAuto.
enum class KernelChoice { kAuto, kSeesawAll, kWgmma, kMma, kNarrow };

// The kernel choice and the tuning knobs, fixed per process (decode.cu reads them from the
// environment, for comparisons; bench/NOTES.md says what each measured).
struct KernelTuning {
  KernelChoice choice = KernelChoice::kAuto;
  SeesawOptions seesaw;
  int sm_count = 132;  // of the call's device (decode.cu fills it in): sizes the combine's blocks
};

// Whether `choice` sends a shape with q_rows query rows per kv head to the seesaw kernel (which
// also needs the cache's TMA descriptor; without one the launcher falls back).
inline bool wants_seesaw(KernelChoice choice, int q_rows) {
  return choice == KernelChoice::kSeesawAll ||
         (q_rows > kNarrowMaxRows && (choice == KernelChoice::kAuto || choice == KernelChoice::kNarrow));
}

// Whether `choice` sends the shape to the narrow kernel (which also needs the TMA descriptor;
// without one, the mma.sync kernel serves the shape).
inline bool wants_narrow(KernelChoice choice, int q_rows) {
  return q_rows <= kNarrowMaxRows && (choice == KernelChoice::kAuto || choice == KernelChoice::kNarrow);
}

// k_map: the cache's TMA descriptor, or nullptr where it was not needed or could not be built
// (then no seesaw).
Status launch_decode_bf16(const DecodeParams& params, const CUtensorMap* k_map, int num_sm_parts,
                          const KernelTuning& tuning, cudaStream_t stream);
Status launch_decode_fp16(const DecodeParams& params, const CUtensorMap* k_map, int num_sm_parts,
                          const KernelTuning& tuning, cudaStream_t stream);

}  // namespace sm90
}  // namespace flashmla
