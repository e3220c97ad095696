// Warpgroup MMA (sm_90a): shared-memory matrix descriptors and the two instructions of the wgmma
// decode path: m64n32k16 for S = Q K^T (both operands K-major) and m64n256k16 for O += P V (P
// K-major, V read "MN-major": its rows are tokens, the reduction dimension). All tiles are stored in
// 128-byte-swizzled atoms of 8 rows x 128 bytes.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace flashmla {
namespace sm90 {

// Descriptor of a K-major operand in 128-byte swizzle mode: rows of 64 elements (128 bytes) in
// atoms of 8 rows (1024 bytes, 1024-aligned); consecutive 8-row groups are 1024 bytes apart. The
// leading-byte offset is unused in this mode (encoded as 1).
__device__ __forceinline__ uint64_t kmajor_sw128_desc(uint32_t smem_byte_addr) {
  constexpr uint64_t kStrideBytes = 1024;
  constexpr uint64_t kSwizzle128B = 1;
  uint64_t desc = 0;
  desc |= static_cast<uint64_t>((smem_byte_addr >> 4) & 0x3fff);
  desc |= static_cast<uint64_t>(1) << 16;
  desc |= ((kStrideBytes >> 4) & 0x3fff) << 32;
  desc |= kSwizzle128B << 62;
  return desc;
}

// Descriptor of an MN-major operand in 128-byte swizzle mode (V in O += P V): along N, 64 elements
// per 128-byte row, the next 64 elements `n_group_bytes` further (leading-byte offset); along K
// (tokens), rows 128 bytes apart, the next 8 rows 1024 bytes further (stride-byte offset).
__device__ __forceinline__ uint64_t mnmajor_sw128_desc(uint32_t smem_byte_addr, uint32_t n_group_bytes) {
  constexpr uint64_t kStrideBytes = 1024;
  constexpr uint64_t kSwizzle128B = 1;
  uint64_t desc = 0;
  desc |= static_cast<uint64_t>((smem_byte_addr >> 4) & 0x3fff);
  desc |= (static_cast<uint64_t>(n_group_bytes >> 4) & 0x3fff) << 16;
  desc |= ((kStrideBytes >> 4) & 0x3fff) << 32;
  desc |= kSwizzle128B << 62;
  return desc;
}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int kPending>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
}

// Makes ordinary (generic-proxy) shared-memory writes, cp.async included, visible to wgmma reads.
__device__ __forceinline__ void fence_proxy_async_smem() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// TRANS_A "1": A is MN-major (the narrow kernel's V^T); "0": K-major.
#define FLASHMLA_WGMMA_M64N32K16(TYPE, TRANS_A)                                                     \
  asm volatile(                                                                                     \
      "{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"                                                  \
      "wgmma.mma_async.sync.aligned.m64n32k16.f32." TYPE "." TYPE " "                               \
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, %16, %17, p, 1, 1, " \
      TRANS_A ", 0;\n}\n"                                                                            \
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),        \
        "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),    \
        "+f"(d[14]), "+f"(d[15])                                                                    \
      : "l"(desc_a), "l"(desc_b), "r"(accumulate))

// d (16 floats per thread, the m16n8 accumulator layout repeated over 4 column tiles) = / += A B^T.
template <typename T>
__device__ __forceinline__ void wgmma_m64n32k16(float* d, uint64_t desc_a, uint64_t desc_b,
                                                int accumulate);

template <>
__device__ __forceinline__ void wgmma_m64n32k16<__nv_bfloat16>(float* d, uint64_t desc_a,
                                                               uint64_t desc_b, int accumulate) {
  FLASHMLA_WGMMA_M64N32K16("bf16", "0");
}

template <>
__device__ __forceinline__ void wgmma_m64n32k16<__half>(float* d, uint64_t desc_a, uint64_t desc_b,
                                                        int accumulate) {
  FLASHMLA_WGMMA_M64N32K16("f16", "0");
}


// The narrow kernel's instructions (narrow_kernel.cuh), N = 16 query rows: S^T = K Q^T (A = K and
// B = Q, both K-major, kTransA 0) and O^T += V^T P^T (A = V^T read MN-major from the V slab, so
// kTransA 1; B = P^T K-major). 8 accumulators per thread; `accumulate` 0 overwrites d.
#define FLASHMLA_WGMMA_M64N16K16(TYPE, TRANS_A)                                                    \
  asm volatile(                                                                                   \
      "{\n.reg .pred p;\nsetp.ne.b32 p, %10, 0;\n"                                                \
      "wgmma.mma_async.sync.aligned.m64n16k16.f32." TYPE "." TYPE " "                             \
      "{%0, %1, %2, %3, %4, %5, %6, %7}, %8, %9, p, 1, 1, " TRANS_A ", 0;\n}\n"                  \
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),      \
        "+f"(d[7])                                                                                \
      : "l"(desc_a), "l"(desc_b), "r"(accumulate))

// d (kN / 2 floats per thread) = / += A B^T, m64 x kN x k16; kTransA: A is MN-major.
template <typename T, int kN, bool kTransA>
__device__ __forceinline__ void wgmma_m64nk16(float* d, uint64_t desc_a, uint64_t desc_b, int accumulate) {
  static_assert(kN == 16 || kN == 32, "the narrow kernel's tiles");
  constexpr bool kBf16 = std::is_same<T, __nv_bfloat16>::value;
  if constexpr (kN == 16 && !kTransA) {
    if constexpr (kBf16) FLASHMLA_WGMMA_M64N16K16("bf16", "0"); else FLASHMLA_WGMMA_M64N16K16("f16", "0");
  } else if constexpr (kN == 16) {
    if constexpr (kBf16) FLASHMLA_WGMMA_M64N16K16("bf16", "1"); else FLASHMLA_WGMMA_M64N16K16("f16", "1");
  } else if constexpr (!kTransA) {
    wgmma_m64n32k16<T>(d, desc_a, desc_b, accumulate);
  } else {
    if constexpr (kBf16) FLASHMLA_WGMMA_M64N32K16("bf16", "1"); else FLASHMLA_WGMMA_M64N32K16("f16", "1");
  }
}

#undef FLASHMLA_WGMMA_M64N16K16
#undef FLASHMLA_WGMMA_M64N32K16

// S = Q K^T for a whole page in one warpgroup: 32 accumulators per thread (the m16n8 layout repeated
// over 8 column tiles); both operands K-major; `accumulate` 0 overwrites d.
#define FLASHMLA_WGMMA_M64N64K16(TYPE)                                                  \
  asm volatile(                                                                         \
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"                                     \
      "wgmma.mma_async.sync.aligned.m64n64k16.f32." TYPE "." TYPE " {"                  \
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"  \
      "}, %32, %33, p, 1, 1, 0, 0;\n}\n"                                               \
      :                                                                                 \
        "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),  \
        "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),  \
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),  \
        "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])  \
      : "l"(desc_a), "l"(desc_b), "r"(accumulate))

template <typename T>
__device__ __forceinline__ void wgmma_m64n64k16(float* d, uint64_t desc_a, uint64_t desc_b, int accumulate);

template <>
__device__ __forceinline__ void wgmma_m64n64k16<__nv_bfloat16>(float* d, uint64_t desc_a, uint64_t desc_b,
                                                               int accumulate) {
  FLASHMLA_WGMMA_M64N64K16("bf16");
}

template <>
__device__ __forceinline__ void wgmma_m64n64k16<__half>(float* d, uint64_t desc_a, uint64_t desc_b,
                                                        int accumulate) {
  FLASHMLA_WGMMA_M64N64K16("f16");
}

#undef FLASHMLA_WGMMA_M64N64K16

// The m64n256 instructions' 128 accumulators per thread (the m16n8 layout repeated over 32 column
// tiles): their operand names %0..%127 and their read-write constraints on d[0..127].
#define FLASHMLA_WGMMA_D128_NAMES  \
  "%0, %1, %2, %3, %4, %5, %6, %7, "  \
  "%8, %9, %10, %11, %12, %13, %14, %15, "  \
  "%16, %17, %18, %19, %20, %21, %22, %23, "  \
  "%24, %25, %26, %27, %28, %29, %30, %31, "  \
  "%32, %33, %34, %35, %36, %37, %38, %39, "  \
  "%40, %41, %42, %43, %44, %45, %46, %47, "  \
  "%48, %49, %50, %51, %52, %53, %54, %55, "  \
  "%56, %57, %58, %59, %60, %61, %62, %63, "  \
  "%64, %65, %66, %67, %68, %69, %70, %71, "  \
  "%72, %73, %74, %75, %76, %77, %78, %79, "  \
  "%80, %81, %82, %83, %84, %85, %86, %87, "  \
  "%88, %89, %90, %91, %92, %93, %94, %95, "  \
  "%96, %97, %98, %99, %100, %101, %102, %103, "  \
  "%104, %105, %106, %107, %108, %109, %110, %111, "  \
  "%112, %113, %114, %115, %116, %117, %118, %119, "  \
  "%120, %121, %122, %123, %124, %125, %126, %127"

#define FLASHMLA_WGMMA_D128_OUTPUTS  \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),  \
  "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),  \
  "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),  \
  "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),  \
  "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),  \
  "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),  \
  "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),  \
  "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]),  \
  "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]),  \
  "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]),  \
  "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]),  \
  "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]),  \
  "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]),  \
  "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]),  \
  "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]),  \
  "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])

// O += P V: A = P (K-major), B = V (MN-major, hence the transpose flag 1 for B); always accumulates.
#define FLASHMLA_WGMMA_M64N256K16_TB(TYPE)                                       \
  asm volatile(                                                                  \
      "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"                              \
      "wgmma.mma_async.sync.aligned.m64n256k16.f32." TYPE "." TYPE " {"           \
      FLASHMLA_WGMMA_D128_NAMES "}, %128, %129, p, 1, 1, 0, 1;\n}\n"              \
      : FLASHMLA_WGMMA_D128_OUTPUTS                                              \
      : "l"(desc_a), "l"(desc_b), "r"(1))

template <typename T>
__device__ __forceinline__ void wgmma_m64n256k16_acc_tb(float* d, uint64_t desc_a, uint64_t desc_b);

template <>
__device__ __forceinline__ void wgmma_m64n256k16_acc_tb<__nv_bfloat16>(float* d, uint64_t desc_a,
                                                                      uint64_t desc_b) {
  FLASHMLA_WGMMA_M64N256K16_TB("bf16");
}

template <>
__device__ __forceinline__ void wgmma_m64n256k16_acc_tb<__half>(float* d, uint64_t desc_a,
                                                               uint64_t desc_b) {
  FLASHMLA_WGMMA_M64N256K16_TB("f16");
}

#undef FLASHMLA_WGMMA_M64N256K16_TB

// O += P V with P from registers (A = the m64k16 fragment of each thread's rows: four 32-bit
// registers of two 16-bit values, rows row0 and row0 + 8, columns 2 (lane % 4) and + 8), B = V
// MN-major as above. The warpgroup that computed P in its S accumulators needs no shared memory
// for it; the registers must stay unchanged until the wgmma completes.
#define FLASHMLA_WGMMA_M64N256K16_RS_TB(TYPE)                                    \
  asm volatile(                                                                  \
      "{\n.reg .pred p;\nsetp.ne.b32 p, %133, 0;\n"                              \
      "wgmma.mma_async.sync.aligned.m64n256k16.f32." TYPE "." TYPE " {"           \
      FLASHMLA_WGMMA_D128_NAMES "}, {%128, %129, %130, %131}, %132, p, 1, 1, 1;\n}\n" \
      : FLASHMLA_WGMMA_D128_OUTPUTS                                              \
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(1))

template <typename T>
__device__ __forceinline__ void wgmma_m64n256k16_rs_acc_tb(float* d, const uint32_t* a, uint64_t desc_b);

template <>
__device__ __forceinline__ void wgmma_m64n256k16_rs_acc_tb<__nv_bfloat16>(float* d, const uint32_t* a,
                                                                         uint64_t desc_b) {
  FLASHMLA_WGMMA_M64N256K16_RS_TB("bf16");
}

template <>
__device__ __forceinline__ void wgmma_m64n256k16_rs_acc_tb<__half>(float* d, const uint32_t* a,
                                                                  uint64_t desc_b) {
  FLASHMLA_WGMMA_M64N256K16_RS_TB("f16");
}

#undef FLASHMLA_WGMMA_M64N256K16_RS_TB
#undef FLASHMLA_WGMMA_D128_OUTPUTS
#undef FLASHMLA_WGMMA_D128_NAMES

}  // namespace sm90
}  // namespace flashmla

namespace flashmla {
namespace sm90 {

// Pins accumulator registers in place while a warpgroup MMA that writes them is in flight: the
// compiler sees them read and written here, so it neither moves them nor reuses them meanwhile.
template <int kCount>
__device__ __forceinline__ void wgmma_pin(float* d) {
#pragma unroll
  for (int i = 0; i < kCount; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

}  // namespace sm90
}  // namespace flashmla
