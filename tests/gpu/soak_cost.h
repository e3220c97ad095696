// flashmla_gpu_soak --check-cost: what DecodeArgs::check_inputs adds to a decode call on the GPU.
#pragma once

namespace flashmla {
namespace test {

// Times mla_decode_with_kvcache with input checking off and on (b = 128, s_k 4096 and 16384,
// h_q 16 and 128, bf16), prints a table and returns 0, or 1 when a call fails.
int run_check_cost(int iters);

}  // namespace test
}  // namespace flashmla
