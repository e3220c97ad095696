#include "flashmla/status.h"

namespace flashmla {

const char* status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid argument";
    case StatusCode::kUnsupportedDevice: return "unsupported device";
    case StatusCode::kCudaError: return "CUDA error";
    case StatusCode::kInvalidInputData: return "invalid input data";
    case StatusCode::kInternalError: return "internal error";
  }
  return "unknown status";
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  return std::string(status_code_name(code_)) + ": " + message_;
}

}  // namespace flashmla
