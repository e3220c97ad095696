// A small, fast, portable PRNG. The standard library's distributions are implementation-defined,
// so results would differ between standard libraries; these give the same inputs everywhere.
#pragma once

#include <cmath>
#include <cstdint>

namespace bench {

// SplitMix64: one 64-bit state, good enough statistics for test data, and any seed (0 included)
// is fine. Seeding per chunk lets threads fill one buffer reproducibly in any order.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }

  // Uniform integer in [0, n), n >= 1.
  uint64_t below(uint64_t n) { return next() % n; }

  // Standard normal (Box-Muller); used where exact tails matter, e.g. sequence lengths.
  double normal() {
    const double u1 = 1.0 - uniform();  // (0, 1]: log stays finite
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

  // Approximately standard normal from one draw: the sum of four 16-bit uniforms (Irwin-Hall),
  // centred and scaled to unit variance. Cheap enough to fill gigabytes of cache.
  float fast_normal() {
    const uint64_t r = next();
    const uint32_t sum = static_cast<uint32_t>(r & 0xffff) +
                         static_cast<uint32_t>((r >> 16) & 0xffff) +
                         static_cast<uint32_t>((r >> 32) & 0xffff) + static_cast<uint32_t>(r >> 48);
    // Each 16-bit uniform has mean 32767.5 and variance 65536^2 / 12.
    constexpr float kMean = 4.0f * 32767.5f;
    constexpr float kInvStd = 1.0f / 37837.23f;  // 1 / sqrt(4 * 65536^2 / 12)
    return (static_cast<float>(sum) - kMean) * kInvStd;
  }

 private:
  uint64_t state_;
};

// Mixes a base seed with a stream index (a buffer id, a chunk index) into an independent seed.
inline uint64_t mix_seed(uint64_t seed, uint64_t stream) {
  Rng r(seed ^ (stream * 0xd1b54a32d192ed03ull));
  r.next();
  return r.next();
}

}  // namespace bench
