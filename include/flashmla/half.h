// Bit-exact host conversions between float and the 16-bit storage formats of q, k_cache and out
// (bfloat16 and IEEE float16). The library takes such tensors as raw 16-bit patterns so that it
// needs no compiler extension (_Float16, __bf16) or CUDA header; these let a C++ caller fill and
// read them the same way. Header-only.
//
// Narrowing rounds to nearest, ties to even, as the GPU's conversion instructions do, so host data
// converted here matches data converted on the device bit for bit. NaN stays NaN (never rounds into
// inf); values past the largest finite half overflow to inf. Widening is exact.
#pragma once

#include <cstdint>
#include <cstring>

#include "flashmla/tensor.h"

namespace flashmla {

namespace half_detail {

inline float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline uint32_t float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

}  // namespace half_detail

// bfloat16 is the high half of a float: widening is exact.
inline float bf16_to_float(uint16_t h) {
  return half_detail::bits_to_float(static_cast<uint32_t>(h) << 16);
}

inline uint16_t float_to_bf16(float f) {
  uint32_t u = half_detail::float_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    // NaN: keep the sign and high payload and force the quiet bit, so it cannot round into inf.
    return static_cast<uint16_t>((u >> 16) | 0x0040u);
  }
  // Adding just under half an ulp, plus one when the kept part is odd, makes truncation round to
  // nearest even; a carry out of the mantissa correctly bumps the exponent (up to inf).
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline float fp16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1fu) {  // inf, NaN
    return half_detail::bits_to_float(sign | 0x7f800000u | (mantissa << 13));
  }
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in float.
    const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
    return sign ? -magnitude : magnitude;
  }
  // Rebias the exponent from 15 to 127.
  return half_detail::bits_to_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

inline uint16_t float_to_fp16(float f) {
  const uint32_t u = half_detail::float_to_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  uint32_t magnitude = u & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  // 65520 is halfway between 65504 (the largest half, odd mantissa) and 65536: it and everything
  // above round to inf.
  if (magnitude >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (magnitude < 0x38800000u) {
    // Below 2^-14 the result is subnormal. Adding 0.5 places the value where one float ulp is
    // 2^-24, the subnormal half step, so the FPU's own rounding (to nearest even) does the work.
    const float shifted = half_detail::bits_to_float(magnitude) + 0.5f;
    return static_cast<uint16_t>(sign | (half_detail::float_to_bits(shifted) - 0x3f000000u));
  }
  // Normal: rebias the exponent from 127 to 15 (subtract 112 << 23, written as its two's
  // complement) and round the 13 dropped mantissa bits to nearest even.
  magnitude += 0xc8000fffu + ((magnitude >> 13) & 1u);
  return static_cast<uint16_t>(sign | (magnitude >> 13));
}

// The same conversions chosen by a tensor's dtype, which must be kBFloat16 or kFloat16 (any other
// dtype is read as kFloat16).
inline float half_to_float(uint16_t h, DType dtype) {
  return dtype == DType::kBFloat16 ? bf16_to_float(h) : fp16_to_float(h);
}

inline uint16_t float_to_half(float f, DType dtype) {
  return dtype == DType::kBFloat16 ? float_to_bf16(f) : float_to_fp16(f);
}

// The canonical quiet NaN of a 16-bit dtype: a fill value that shows in any result that reads it.
inline uint16_t half_quiet_nan(DType dtype) {
  return dtype == DType::kBFloat16 ? 0x7fc0u : 0x7e00u;
}

}  // namespace flashmla
