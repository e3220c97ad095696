// Random valid decode problems for the GPU soak (flashmla_gpu_soak): every shape the API accepts,
// with the lengths that have broken decoders before (DESIGN.md section 5).
#pragma once

#include <cstdint>
#include <string>

#include "test_support.h"

namespace flashmla {
namespace test {

struct SoakCase {
  ProblemSpec spec;
  // Run the whole step (metadata + decode) as a CUDA graph, replayed `replays` times.
  bool graph = false;
  int replays = 1;
  const char* length_mode = "";
};

// The case of one seed: the same seed always gives the same case (for --replay). Sizes are capped
// so that building the problem on the host and the CPU reference take about a second at most.
SoakCase random_soak_case(uint64_t seed);

// One line naming everything needed to understand a failure: shape, dtype, lengths (abridged),
// strides, scale, mode.
std::string describe(const SoakCase& c);

}  // namespace test
}  // namespace flashmla
