/* flashmla C API: a plain C ABI over the C++ API of flashmla/flashmla.h, exported by the shared
 * library libflashmla_c.so. It exists so that other languages (the Python package loads it with
 * ctypes) can call the library without compiling against C++ headers or a framework.
 *
 * Semantics, shapes and the meaning of every argument are exactly those of flashmla.h; this file
 * only describes how they travel through C.
 *
 * Tensors are described by flashmla_tensor: a data pointer the caller owns, a dtype code, a device,
 * and up to four dimensions with strides counted in elements (not bytes). The library never keeps a
 * pointer beyond the call that receives it and never allocates the outputs: the caller allocates
 * out, lse, tile_scheduler_metadata, num_splits and (on CUDA) the workspace, and the call writes
 * them.
 *
 * Errors: every call that can fail returns a status code (FLASHMLA_OK = 0 on success, otherwise one
 * of the FLASHMLA_STATUS_* codes, the same values as flashmla::StatusCode) and writes a
 * NUL-terminated message naming the argument, the expected and the actual value into the
 * caller's buffer `err` of `err_len` bytes. The message is truncated to fit (always terminated);
 * `err` may be NULL (or err_len 0) when the caller does not want it. On success the buffer receives
 * an empty string. On any error nothing is written to the outputs. No C++ exception ever crosses
 * this interface.
 *
 * Thread safety: as flashmla.h (every call is reentrant).
 */
#ifndef FLASHMLA_C_API_H_
#define FLASHMLA_C_API_H_

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define FLASHMLA_C_EXPORT __declspec(dllexport)
#else
#define FLASHMLA_C_EXPORT __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a struct layout or a function signature below changes, so that a loader can
 * refuse a library built from other headers (the Python package checks it). */
#define FLASHMLA_C_ABI_VERSION 1

/* Status codes: the values of flashmla::StatusCode. */
#define FLASHMLA_OK 0
#define FLASHMLA_STATUS_INVALID_ARGUMENT 1   /* a dtype, shape, stride, device or value */
#define FLASHMLA_STATUS_UNSUPPORTED_DEVICE 2 /* no CUDA backend in this build, or not sm_90 */
#define FLASHMLA_STATUS_CUDA_ERROR 3         /* a CUDA call or launch failed */
#define FLASHMLA_STATUS_INVALID_INPUT_DATA 4 /* cache_seqlens / block_table / metadata values */
#define FLASHMLA_STATUS_INTERNAL_ERROR 5     /* a bug in this library */

/* Dtype codes: the values of flashmla::DType. */
#define FLASHMLA_DTYPE_BFLOAT16 0
#define FLASHMLA_DTYPE_FLOAT16 1
#define FLASHMLA_DTYPE_FLOAT32 2
#define FLASHMLA_DTYPE_INT32 3

/* Device types: the values of flashmla::DeviceType. */
#define FLASHMLA_DEVICE_CPU 0
#define FLASHMLA_DEVICE_CUDA 1

/* Most dimensions a tensor may have (flashmla::kMaxTensorDims). */
#define FLASHMLA_MAX_DIMS 4

/* A view of caller-owned memory (flashmla::TensorView). Entries of shape and strides past ndim are
 * ignored. device_index is the CUDA ordinal, 0 for the CPU. */
typedef struct flashmla_tensor {
  void* data;
  int32_t dtype;       /* FLASHMLA_DTYPE_* */
  int32_t device_type; /* FLASHMLA_DEVICE_* */
  int32_t device_index;
  int32_t ndim; /* 0..FLASHMLA_MAX_DIMS */
  int64_t shape[FLASHMLA_MAX_DIMS];
  int64_t strides[FLASHMLA_MAX_DIMS]; /* in elements */
} flashmla_tensor;

/* Arguments of flashmla_get_mla_metadata(): flashmla::MetadataArgs field by field. */
typedef struct flashmla_metadata_args {
  flashmla_tensor cache_seqlens;   /* [b] int32, contiguous */
  int32_t q_rows_per_kv_head;      /* s_q * h_q / h_kv */
  int32_t h_kv;                    /* number of KV heads */
  flashmla_tensor tile_scheduler_metadata; /* output, [num_sm_parts, 8] int32 */
  flashmla_tensor num_splits;              /* output, [b + 1] int32 */
  void* stream;                            /* cudaStream_t; NULL = default stream */
} flashmla_metadata_args;

/* Arguments of flashmla_mla_decode_with_kvcache(): flashmla::DecodeArgs field by field. */
typedef struct flashmla_decode_args {
  flashmla_tensor q;             /* [b, s_q, h_q, 576], bf16/fp16, last dim contiguous */
  flashmla_tensor k_cache;       /* [num_blocks, 64, h_kv, 576], dtype of q */
  flashmla_tensor block_table;   /* [b, max_blocks_per_seq] int32 */
  flashmla_tensor cache_seqlens; /* [b] int32 */
  int32_t head_dim_v;            /* must be 512 */
  flashmla_tensor tile_scheduler_metadata; /* from flashmla_get_mla_metadata() */
  flashmla_tensor num_splits;              /* from flashmla_get_mla_metadata() */
  float softmax_scale;   /* 0 = default 1/sqrt(576); otherwise finite and > 0 */
  int32_t causal;        /* nonzero: query token i of s_q sees keys 0..L-s_q+i */
  flashmla_tensor out;   /* output, [b, s_q, h_q, 512], dtype of q, contiguous */
  flashmla_tensor lse;   /* output, [b, h_q, s_q] float32, contiguous */
  void* workspace;       /* >= flashmla_decode_workspace_size() bytes; may be NULL on the CPU */
  size_t workspace_bytes;
  void* stream;          /* cudaStream_t; NULL = default stream */
  int32_t check_inputs;  /* nonzero: input-checking mode (see flashmla::DecodeArgs) */
} flashmla_decode_args;

/* FLASHMLA_C_ABI_VERSION of the headers the library was built from. */
FLASHMLA_C_EXPORT int flashmla_c_abi_version(void);

/* Library version, "MAJOR.MINOR.PATCH" (static storage). */
FLASHMLA_C_EXPORT const char* flashmla_version(void);

/* 1 when this build contains the CUDA (sm_90a) backend, else 0. */
FLASHMLA_C_EXPORT int flashmla_has_cuda(void);

/* Human-readable name of a status code ("invalid argument", ...; static storage). */
FLASHMLA_C_EXPORT const char* flashmla_status_name(int status);

/* Parts the CPU backend plans for: FLASHMLA_CPU_THREADS, else the hardware concurrency; >= 1. */
FLASHMLA_C_EXPORT int flashmla_cpu_num_sm_parts(void);

/* The planning formula for a device with sm_count multiprocessors:
 * sm_count / h_kv / ceil(q_rows_per_kv_head / 64), at least 1. Needs no device. */
FLASHMLA_C_EXPORT int flashmla_num_sm_parts_for_sm_count(int sm_count, int q_rows_per_kv_head,
                                                         int h_kv);

/* The number of SM parts flashmla_get_mla_metadata() plans for on the device (device_type,
 * device_index), written to *num_sm_parts: the rows of tile_scheduler_metadata to allocate. */
FLASHMLA_C_EXPORT int flashmla_get_num_sm_parts(int32_t device_type, int32_t device_index,
                                                int q_rows_per_kv_head, int h_kv,
                                                int* num_sm_parts, char* err, size_t err_len);

/* Bytes of workspace flashmla_mla_decode_with_kvcache() needs for this shape (0 for negative
 * arguments). */
FLASHMLA_C_EXPORT size_t flashmla_decode_workspace_size(int64_t batch, int num_sm_parts,
                                                        int q_rows_per_kv_head, int h_kv);

/* flashmla::get_mla_metadata(). On CUDA it is asynchronous on args->stream (no host sync). */
FLASHMLA_C_EXPORT int flashmla_get_mla_metadata(const flashmla_metadata_args* args, char* err,
                                                size_t err_len);

/* flashmla::mla_decode_with_kvcache(). On CUDA it is asynchronous on args->stream (no host sync
 * unless input-checking mode is on). */
FLASHMLA_C_EXPORT int flashmla_mla_decode_with_kvcache(const flashmla_decode_args* args, char* err,
                                                       size_t err_len);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* FLASHMLA_C_API_H_ */
