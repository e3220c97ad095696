// The public entry points: validate, then dispatch on the tensors' device.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/validate.h"
#include "cpu/cpu_backend.h"
#include "flashmla/flashmla.h"
#if defined(FLASHMLA_WITH_CUDA)
#include "sm90/sm90_backend.h"
#endif

namespace flashmla {

namespace {

#if !defined(FLASHMLA_WITH_CUDA)
Status no_cuda_backend(Device device) {
  return Status(StatusCode::kUnsupportedDevice,
                "tensors are on " + device_name(device) +
                    " but this build of flashmla has no CUDA backend (rebuild with FLASHMLA_CUDA=ON)");
}
#else
bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}
#endif

// Parts the plan for this device and shape must have: > 0 on CUDA, 0 (any) on the CPU.
Status expected_parts_for(Device device, int q_rows, int h_kv, int* parts) {
  *parts = 0;
  if (device.type == DeviceType::kCPU) return Status::Ok();
  if (q_rows <= 0 || h_kv <= 0) return Status::Ok();  // validation reports it
  return get_num_sm_parts(device, q_rows, h_kv, parts);
}

}  // namespace

int num_sm_parts_for_sm_count(int sm_count, int q_rows_per_kv_head, int h_kv) {
  if (h_kv < 1 || q_rows_per_kv_head < 1) return 1;
  const int m_blocks = (q_rows_per_kv_head + kBlockRows - 1) / kBlockRows;
  return std::max(1, sm_count / h_kv / m_blocks);
}

int cpu_num_sm_parts() {
  if (const char* v = std::getenv("FLASHMLA_CPU_THREADS")) {
    const int n = std::atoi(v);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

Status get_num_sm_parts(Device device, int q_rows_per_kv_head, int h_kv, int* num_sm_parts) {
  if (num_sm_parts == nullptr)
    return Status(StatusCode::kInvalidArgument, "num_sm_parts: expected a non-null pointer");
  if (device.type == DeviceType::kCPU) {
    *num_sm_parts = cpu_num_sm_parts();
    return Status::Ok();
  }
  if (device.type != DeviceType::kCUDA)
    return Status(StatusCode::kUnsupportedDevice, "unknown device type");
#if defined(FLASHMLA_WITH_CUDA)
  int sms = 0;
  Status st = sm90::device_sm_count(device.index, &sms);
  if (!st.ok()) return st;
  *num_sm_parts = num_sm_parts_for_sm_count(sms, q_rows_per_kv_head, h_kv);
  return Status::Ok();
#else
  return no_cuda_backend(device);
#endif
}

size_t decode_workspace_size(int64_t batch, int num_sm_parts, int q_rows_per_kv_head, int h_kv) {
  if (batch < 0 || num_sm_parts < 0 || q_rows_per_kv_head < 0 || h_kv < 0) return 0;
  // At most batch + num_sm_parts - 1 splits: each part boundary inside a sequence adds one.
  const size_t max_splits = static_cast<size_t>(batch) + static_cast<size_t>(num_sm_parts);
  const size_t rows = max_splits * static_cast<size_t>(h_kv) * static_cast<size_t>(q_rows_per_kv_head);
  const size_t out_bytes = rows * kHeadDimV * sizeof(float);
  const size_t lse_bytes = (rows * sizeof(float) + 15) / 16 * 16;
  return out_bytes + lse_bytes;
}

Status get_mla_metadata(const MetadataArgs& args) {
  int parts = 0;
  Status st = expected_parts_for(args.cache_seqlens.device, args.q_rows_per_kv_head, args.h_kv, &parts);
  if (!st.ok()) return st;
  st = validate_metadata_args(args, parts);
  if (!st.ok()) return st;
  if (args.cache_seqlens.device.type == DeviceType::kCPU) return cpu::get_metadata(args);
#if defined(FLASHMLA_WITH_CUDA)
  return sm90::get_metadata(args);
#else
  return no_cuda_backend(args.cache_seqlens.device);
#endif
}

Status mla_decode_with_kvcache(const DecodeArgs& args) {
  int parts = 0;
  const Device device = args.q.device;
  // The plan's expected size needs h_kv and the row count before validation has run: compute it
  // only from sizes within the limits validation enforces (it reports the others), so that no
  // cast or division below can overflow or divide by zero.
  const bool sizes_in_range =
      args.q.ndim == 4 && args.k_cache.ndim == 4 && args.q.shape[1] >= 1 &&
      args.q.shape[1] <= kMaxQueryTokens && args.q.shape[2] >= 1 &&
      args.q.shape[2] <= kMaxQueryHeads && args.k_cache.shape[2] >= 1 &&
      args.k_cache.shape[2] <= args.q.shape[2] && args.q.shape[2] % args.k_cache.shape[2] == 0;
  if (device.type == DeviceType::kCUDA && sizes_in_range) {
    const int h_kv = static_cast<int>(args.k_cache.shape[2]);
    const int q_rows = static_cast<int>(args.q.shape[1] * (args.q.shape[2] / h_kv));
    Status st = expected_parts_for(device, q_rows, h_kv, &parts);
    if (!st.ok()) return st;
  }
  DecodeShape shape;
  Status st = validate_decode_args(args, parts, &shape);
  if (!st.ok()) return st;
  if (device.type == DeviceType::kCPU) return cpu::decode(args, shape);
#if defined(FLASHMLA_WITH_CUDA)
  if (args.check_inputs || env_flag("FLASHMLA_CHECK_INPUTS")) {
    st = sm90::check_inputs(args, shape);
    if (!st.ok()) return st;
  }
  return sm90::decode(args, shape);
#else
  return no_cuda_backend(device);
#endif
}

const char* version() { return "0.1.0"; }

bool built_with_cuda() {
#if defined(FLASHMLA_WITH_CUDA)
  return true;
#else
  return false;
#endif
}

}  // namespace flashmla
