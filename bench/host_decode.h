// Running a problem through the public API on host tensors (the CPU backend): the CPU side of
// every benchmark, and the reference a GPU result is checked against.
#pragma once

#include <vector>

#include "flashmla/flashmla.h"
#include "problem.h"

namespace bench {

struct HostDecodeOutput {
  HostArray<uint16_t> out;  // [b, s_q, h_q, 512], the problem's dtype
  std::vector<float> lse;   // [b, h_q, s_q]
};

struct HostTimings {
  std::vector<double> metadata_s;  // one entry per iteration
  std::vector<double> decode_s;
};

// Views of the problem's host buffers as the API's tensors. The library only reads inputs, so the
// const_casts inside are safe.
flashmla::TensorView q_view(const HostProblem& p, flashmla::Device device, const void* data);
flashmla::TensorView cache_view(const HostProblem& p, flashmla::Device device, const void* data);
flashmla::TensorView block_table_view(const HostProblem& p, flashmla::Device device,
                                      const void* data);
flashmla::TensorView seqlens_view(const HostProblem& p, flashmla::Device device, const void* data);
flashmla::TensorView out_view(const HostProblem& p, flashmla::Device device, void* data);
flashmla::TensorView lse_view(const HostProblem& p, flashmla::Device device, void* data);

// Plans and decodes `iters` times (at least once) on the CPU backend, timing each call with a
// steady clock. The output is poisoned with NaN first, so rows the backend leaves unwritten show.
flashmla::Status run_cpu_decode(const HostProblem& p, int iters, HostDecodeOutput* result,
                                HostTimings* timings);

}  // namespace bench
