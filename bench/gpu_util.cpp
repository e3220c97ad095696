#include "gpu_util.h"

#if defined(FLASHMLA_WITH_CUDA)

#include <cctype>
#include <cstdio>
#include <sstream>
#include <utility>

namespace bench {
namespace gpu {

namespace {

// Errors in destructors cannot be returned; they are printed so that a leak or a sticky error is
// still visible in the log.
void report_cleanup(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    std::fprintf(stderr, "flashmla-bench: warning: %s failed: %s\n", what, cudaGetErrorString(err));
}

}  // namespace

flashmla::Status cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  std::ostringstream msg;
  msg << call << " failed at " << file << ":" << line << ": " << cudaGetErrorName(err) << " ("
      << cudaGetErrorString(err) << ")";
  return flashmla::Status(flashmla::StatusCode::kCudaError, msg.str());
}

flashmla::Status cublas_error(cublasStatus_t err, const char* call, const char* file, int line) {
  std::ostringstream msg;
  msg << call << " failed at " << file << ":" << line << ": " << cublasGetStatusName(err) << " ("
      << cublasGetStatusString(err) << ")";
  return flashmla::Status(flashmla::StatusCode::kCudaError, msg.str());
}

bool find_hopper_device(DeviceInfo* info, std::string* why_not) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    *why_not = err != cudaSuccess
                   ? std::string("no usable CUDA device (") + cudaGetErrorString(err) + ")"
                   : "no CUDA device";
    cudaGetLastError();  // clear it: later CUDA calls must not see this error
    return false;
  }
  cudaDeviceProp prop{};
  err = cudaGetDeviceProperties(&prop, 0);
  if (err != cudaSuccess) {
    *why_not = std::string("cudaGetDeviceProperties(0) failed: ") + cudaGetErrorString(err);
    cudaGetLastError();
    return false;
  }
  info->index = 0;
  info->name = prop.name;
  info->major = prop.major;
  info->minor = prop.minor;
  info->sm_count = prop.multiProcessorCount;
  info->total_memory = prop.totalGlobalMem;
  if (prop.major != 9) {
    *why_not = "CUDA device 0 (" + info->name + ") is sm_" + std::to_string(prop.major) +
               std::to_string(prop.minor) + "; the CUDA backend needs sm_90 (Hopper)";
    return false;
  }
  err = cudaSetDevice(0);
  if (err != cudaSuccess) {
    *why_not = std::string("cudaSetDevice(0) failed: ") + cudaGetErrorString(err);
    return false;
  }
  return true;
}

std::string short_gpu_name(const std::string& device_name) {
  std::istringstream words(device_name);
  std::string word;
  std::string first;
  while (words >> word) {
    if (first.empty()) first = word;
    if (word == "NVIDIA" || word == "Tesla") continue;
    std::string out;
    for (char c : word) {
      if (std::isalnum(static_cast<unsigned char>(c)))
        out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (!out.empty()) return out;
  }
  return first.empty() ? "gpu" : first;
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept
    : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    reset();
    ptr_ = std::exchange(o.ptr_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() { reset(); }

void DeviceBuffer::reset() {
  if (ptr_) report_cleanup(cudaFree(ptr_), "cudaFree");
  ptr_ = nullptr;
  bytes_ = 0;
}

flashmla::Status DeviceBuffer::allocate(size_t bytes, const char* what) {
  reset();
  // cudaMalloc(0) may return a null pointer; a non-null one keeps every view valid.
  const cudaError_t err = cudaMalloc(&ptr_, bytes == 0 ? 16 : bytes);
  if (err != cudaSuccess) {
    ptr_ = nullptr;
    size_t free_b = 0, total_b = 0;
    cudaGetLastError();
    cudaMemGetInfo(&free_b, &total_b);
    return flashmla::Status(flashmla::StatusCode::kCudaError,
                            std::string("cudaMalloc(") + what + ", " + format_bytes(bytes) +
                                ") failed: " + cudaGetErrorString(err) + " (" +
                                format_bytes(free_b) + " free of " + format_bytes(total_b) + ")");
  }
  bytes_ = bytes;
  return flashmla::Status::Ok();
}

Stream::~Stream() {
  if (stream_) report_cleanup(cudaStreamDestroy(stream_), "cudaStreamDestroy");
}

flashmla::Status Stream::create() {
  BENCH_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  return flashmla::Status::Ok();
}

EventTimer::~EventTimer() {
  for (cudaEvent_t e : events_) report_cleanup(cudaEventDestroy(e), "cudaEventDestroy");
}

flashmla::Status EventTimer::create(int count) {
  for (int i = 0; i < 2 * count; ++i) {
    cudaEvent_t e = nullptr;
    BENCH_CUDA(cudaEventCreate(&e));
    events_.push_back(e);
  }
  return flashmla::Status::Ok();
}

flashmla::Status EventTimer::start(int i, cudaStream_t stream) {
  BENCH_CUDA(cudaEventRecord(events_.at(2 * i), stream));
  return flashmla::Status::Ok();
}

flashmla::Status EventTimer::stop(int i, cudaStream_t stream) {
  BENCH_CUDA(cudaEventRecord(events_.at(2 * i + 1), stream));
  return flashmla::Status::Ok();
}

flashmla::Status EventTimer::elapsed_s(std::vector<double>* seconds) {
  seconds->clear();
  if (events_.empty()) return flashmla::Status::Ok();
  BENCH_CUDA(cudaEventSynchronize(events_.back()));
  for (size_t i = 0; i + 1 < events_.size(); i += 2) {
    float ms = 0.0f;
    BENCH_CUDA(cudaEventElapsedTime(&ms, events_[i], events_[i + 1]));
    seconds->push_back(1e-3 * ms);
  }
  return flashmla::Status::Ok();
}

CublasHandle::~CublasHandle() {
  if (handle_ && cublasDestroy(handle_) != CUBLAS_STATUS_SUCCESS)
    std::fprintf(stderr, "flashmla-bench: warning: cublasDestroy failed\n");
}

flashmla::Status CublasHandle::create(cudaStream_t stream) {
  BENCH_CUBLAS(cublasCreate(&handle_));
  BENCH_CUBLAS(cublasSetStream(handle_, stream));
  return flashmla::Status::Ok();
}

std::string format_bytes(double bytes) {
  char buf[32];
  if (bytes >= 1e9) {
    std::snprintf(buf, sizeof(buf), "%.2f GB", bytes / 1e9);
  } else if (bytes >= 1e6) {
    std::snprintf(buf, sizeof(buf), "%.1f MB", bytes / 1e6);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f B", bytes);
  }
  return buf;
}

}  // namespace gpu
}  // namespace bench

#endif  // FLASHMLA_WITH_CUDA
