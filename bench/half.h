// Host conversions between float and the 16-bit storage formats of q, the cache and out. The
// benchmark keeps its tensors as raw uint16_t so that it needs no CUDA headers on a CPU-only build.
#pragma once

#include <cstdint>
#include <cstring>

#include "flashmla/tensor.h"

namespace bench {

inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

inline float bf16_to_float(uint16_t h) { return bits_float(static_cast<uint32_t>(h) << 16); }

// Round to nearest even; NaN stays a (quiet) NaN rather than rounding into infinity.
inline uint16_t float_to_bf16(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  const uint32_t rounded = u + 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(rounded >> 16);
}

inline float fp16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t man = h & 0x3ffu;
  if (exp == 0x1fu) return bits_float(sign | 0x7f800000u | (man << 13));  // inf / NaN
  if (exp == 0) {
    // Zero or subnormal: value = man * 2^-24, exact in float.
    const float mag = static_cast<float>(man) * (1.0f / 16777216.0f);
    return sign ? -mag : mag;
  }
  return bits_float(sign | ((exp + 112u) << 23) | (man << 13));
}

// Round to nearest even, with overflow to infinity and gradual underflow.
inline uint16_t float_to_fp16(float f) {
  const uint32_t u = float_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds past 65504
  if (abs < 0x38800000u) {
    // Below the smallest normal half (2^-14): scale into the subnormal grid of 2^-24 steps.
    const float mag = bits_float(abs) * 16777216.0f;
    // Adding and subtracting 2^23 rounds to an integer with the FPU's nearest-even mode.
    const float r = (mag + 8388608.0f) - 8388608.0f;
    return static_cast<uint16_t>(sign | static_cast<uint16_t>(r));
  }
  const uint32_t rounded = abs + 0xfffu + ((abs >> 13) & 1u);
  return static_cast<uint16_t>(sign | ((rounded - (112u << 23)) >> 13));
}

inline float half_to_float(uint16_t h, flashmla::DType dtype) {
  return dtype == flashmla::DType::kFloat16 ? fp16_to_float(h) : bf16_to_float(h);
}

inline uint16_t float_to_half(float f, flashmla::DType dtype) {
  return dtype == flashmla::DType::kFloat16 ? float_to_fp16(f) : float_to_bf16(f);
}

// A quiet NaN of the 16-bit dtype: what unused cache slots hold.
inline uint16_t half_nan(flashmla::DType dtype) {
  return dtype == flashmla::DType::kFloat16 ? 0x7e00u : 0x7fc0u;
}

}  // namespace bench
