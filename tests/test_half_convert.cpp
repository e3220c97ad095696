// The public bf16/fp16 conversions (flashmla/half.h, also used by the CPU backend) against the
// oracle's independent decoder and a brute-force round-to-nearest-even reference.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>

#include "flashmla/half.h"
#include "oracle.h"

namespace flashmla {
namespace {

using test::half_bits_to_double;

uint16_t inf_bits(DType dtype) { return dtype == DType::kBFloat16 ? 0x7f80 : 0x7c00; }

bool is_nan_bits(uint16_t v, DType dtype) { return (v & 0x7fff) > inf_bits(dtype); }

// Value of a non-negative bit pattern, with the inf pattern standing for the first power of two
// past the largest finite value (IEEE rounds to inf exactly when that is the nearest "value").
double magnitude_of(uint16_t bits, DType dtype) {
  if (bits == inf_bits(dtype)) return dtype == DType::kBFloat16 ? std::ldexp(1.0, 128) : 65536.0;
  return half_bits_to_double(bits, dtype);
}

// Round-to-nearest-even by search: the two neighbours of |x| and the closer one, ties to the even
// bit pattern.
uint16_t reference_narrow(float x, DType dtype) {
  const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  const double ax = std::fabs(static_cast<double>(x));
  if (std::isinf(ax)) return sign | inf_bits(dtype);
  uint16_t lo = 0, hi = inf_bits(dtype);  // invariant: magnitude(lo) <= ax < magnitude(hi)
  if (ax >= magnitude_of(hi, dtype)) return sign | inf_bits(dtype);
  while (hi - lo > 1) {
    const uint16_t mid = static_cast<uint16_t>((lo + hi) / 2);
    if (magnitude_of(mid, dtype) <= ax)
      lo = mid;
    else
      hi = mid;
  }
  const double dlo = ax - magnitude_of(lo, dtype);
  const double dhi = magnitude_of(hi, dtype) - ax;
  uint16_t pick = dlo < dhi ? lo : dhi < dlo ? hi : ((lo & 1) == 0 ? lo : hi);
  return sign | pick;
}

class HalfConvert : public ::testing::TestWithParam<DType> {};

TEST_P(HalfConvert, WideningMatchesDefinitionForEveryPattern) {
  const DType dtype = GetParam();
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const uint16_t v = static_cast<uint16_t>(bits);
    const double expected = half_bits_to_double(v, dtype);
    const float got = half_to_float(v, dtype);
    if (std::isnan(expected)) {
      ASSERT_TRUE(std::isnan(got)) << std::hex << bits;
    } else {
      ASSERT_EQ(static_cast<double>(got), expected) << std::hex << bits;
      ASSERT_EQ(std::signbit(got), std::signbit(expected)) << std::hex << bits;
    }
  }
}

TEST_P(HalfConvert, NarrowingRoundTripsEveryPattern) {
  const DType dtype = GetParam();
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const uint16_t v = static_cast<uint16_t>(bits);
    const uint16_t back = float_to_half(half_to_float(v, dtype), dtype);
    if (is_nan_bits(v, dtype)) {
      ASSERT_TRUE(is_nan_bits(back, dtype)) << std::hex << bits;
    } else {
      ASSERT_EQ(back, v) << std::hex << bits;
    }
  }
}

TEST_P(HalfConvert, NarrowingRoundsToNearestEven) {
  const DType dtype = GetParam();
  std::mt19937 rng(1234);
  // Random floats across (and beyond) the format's range.
  std::uniform_int_distribution<uint32_t> mantissa(0, (1u << 23) - 1);
  std::uniform_int_distribution<int> exponent(dtype == DType::kBFloat16 ? 0 : 90,
                                              dtype == DType::kBFloat16 ? 254 : 146);
  int checked = 0;
  for (int i = 0; i < 200000; ++i) {
    const uint32_t u = (static_cast<uint32_t>(rng() & 1u) << 31) |
                       (static_cast<uint32_t>(exponent(rng)) << 23) | mantissa(rng);
    float x;
    std::memcpy(&x, &u, sizeof x);
    ASSERT_EQ(float_to_half(x, dtype), reference_narrow(x, dtype)) << std::hexfloat << x;
    ++checked;
  }
  // Exact midpoints between neighbours (the ties), which random floats almost never hit.
  for (uint32_t bits = 0; bits < inf_bits(dtype); bits += (dtype == DType::kBFloat16 ? 7 : 1)) {
    const double mid = (magnitude_of(static_cast<uint16_t>(bits), dtype) +
                        magnitude_of(static_cast<uint16_t>(bits + 1), dtype)) /
                       2;
    if (mid > std::numeric_limits<float>::max()) continue;
    const float x = static_cast<float>(mid);
    ASSERT_EQ(static_cast<double>(x), mid);  // midpoints are exact in float
    ASSERT_EQ(float_to_half(x, dtype), reference_narrow(x, dtype)) << std::hexfloat << x;
    ASSERT_EQ(float_to_half(-x, dtype), reference_narrow(-x, dtype)) << std::hexfloat << x;
    ++checked;
  }
  EXPECT_GT(checked, 200000);
}

TEST_P(HalfConvert, NaNStaysNaNAndInfStaysInf) {
  const DType dtype = GetParam();
  EXPECT_TRUE(is_nan_bits(float_to_half(std::numeric_limits<float>::quiet_NaN(), dtype), dtype));
  EXPECT_TRUE(is_nan_bits(float_to_half(-std::numeric_limits<float>::quiet_NaN(), dtype), dtype));
  // A NaN whose payload lives only in the low float bits must not turn into inf.
  float low_payload_nan;
  const uint32_t u = 0x7f800001u;
  std::memcpy(&low_payload_nan, &u, sizeof u);
  EXPECT_TRUE(is_nan_bits(float_to_half(low_payload_nan, dtype), dtype));
  EXPECT_EQ(float_to_half(std::numeric_limits<float>::infinity(), dtype), inf_bits(dtype));
  EXPECT_EQ(float_to_half(-std::numeric_limits<float>::infinity(), dtype),
            inf_bits(dtype) | 0x8000);
  EXPECT_EQ(float_to_half(std::numeric_limits<float>::max(), dtype), inf_bits(dtype));
}

TEST_P(HalfConvert, QuietNanIsAQuietNaN) {
  const DType dtype = GetParam();
  const uint16_t nan = half_quiet_nan(dtype);
  EXPECT_TRUE(is_nan_bits(nan, dtype));
  EXPECT_EQ(nan & 0x8000, 0);
  // The quiet bit is the top mantissa bit: bit 6 of a bfloat16, bit 9 of a float16.
  EXPECT_NE(nan & (dtype == DType::kBFloat16 ? 0x0040 : 0x0200), 0);
  EXPECT_TRUE(std::isnan(half_to_float(nan, dtype)));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, HalfConvert, ::testing::Values(DType::kBFloat16, DType::kFloat16),
                         [](const ::testing::TestParamInfo<DType>& param_info) {
                           return std::string(dtype_name(param_info.param));
                         });

}  // namespace
}  // namespace flashmla
