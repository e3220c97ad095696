// Error reporting of the whole API: every call returns a Status; nothing throws.
#pragma once

#include <string>
#include <utility>

namespace flashmla {

enum class StatusCode : int {
  kOk = 0,
  // An argument's dtype, shape, stride, device or value is not what the call accepts.
  kInvalidArgument = 1,
  // The tensors live on a device this build cannot run on (no CUDA backend, or not sm_90).
  kUnsupportedDevice = 2,
  // A CUDA runtime call or kernel launch failed; the message carries CUDA's own text.
  kCudaError = 3,
  // Input *data* (not shapes) found invalid: cache_seqlens or block_table out of range.
  kInvalidInputData = 4,
  // A broken internal invariant: a bug in this library. Please report it.
  kInternalError = 5,
};

// Human-readable name of a status code ("invalid argument", ...).
const char* status_code_name(StatusCode code);

class Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  // Empty when ok(); otherwise names the argument with its expected and actual value.
  const std::string& message() const { return message_; }
  // "<code name>: <message>", or "ok".
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

}  // namespace flashmla
