"""Loading libflashmla_c.so with ctypes, its C structs, and the status-to-exception mapping.

Nothing here knows about PyTorch: the custom operators in _ops.py describe tensors with the structs
defined here. See include/flashmla/c_api.h for the C side of every declaration.
"""

import ctypes
import os
import pathlib
import threading

# Must equal FLASHMLA_C_ABI_VERSION of the library we load: the struct layouts below depend on it.
ABI_VERSION = 1

LIBRARY_NAME = "libflashmla_c.so"
# Environment variable naming an explicit library path (a development build, say).
LIBRARY_ENV = "FLASHMLA_C_LIBRARY"

MAX_DIMS = 4

# Status codes of c_api.h.
OK = 0
INVALID_ARGUMENT = 1
UNSUPPORTED_DEVICE = 2
CUDA_ERROR = 3
INVALID_INPUT_DATA = 4
INTERNAL_ERROR = 5

# Dtype and device codes of c_api.h.
DTYPE_BFLOAT16 = 0
DTYPE_FLOAT16 = 1
DTYPE_FLOAT32 = 2
DTYPE_INT32 = 3
DEVICE_CPU = 0
DEVICE_CUDA = 1

# Room for the longest message the library writes (they name a shape or two); longer ones are cut.
_MESSAGE_BYTES = 1024


class Tensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("dtype", ctypes.c_int32),
        ("device_type", ctypes.c_int32),
        ("device_index", ctypes.c_int32),
        ("ndim", ctypes.c_int32),
        ("shape", ctypes.c_int64 * MAX_DIMS),
        ("strides", ctypes.c_int64 * MAX_DIMS),
    ]


class MetadataArgs(ctypes.Structure):
    _fields_ = [
        ("cache_seqlens", Tensor),
        ("q_rows_per_kv_head", ctypes.c_int32),
        ("h_kv", ctypes.c_int32),
        ("tile_scheduler_metadata", Tensor),
        ("num_splits", Tensor),
        ("stream", ctypes.c_void_p),
    ]


class DecodeArgs(ctypes.Structure):
    _fields_ = [
        ("q", Tensor),
        ("k_cache", Tensor),
        ("block_table", Tensor),
        ("cache_seqlens", Tensor),
        ("head_dim_v", ctypes.c_int32),
        ("tile_scheduler_metadata", Tensor),
        ("num_splits", Tensor),
        ("softmax_scale", ctypes.c_float),
        ("causal", ctypes.c_int32),
        ("out", Tensor),
        ("lse", Tensor),
        ("workspace", ctypes.c_void_p),
        ("workspace_bytes", ctypes.c_size_t),
        ("stream", ctypes.c_void_p),
        ("check_inputs", ctypes.c_int32),
    ]


_ERR = (ctypes.c_char_p, ctypes.c_size_t)

# name: (restype, argtypes)
_SIGNATURES = {
    "flashmla_c_abi_version": (ctypes.c_int, ()),
    "flashmla_version": (ctypes.c_char_p, ()),
    "flashmla_has_cuda": (ctypes.c_int, ()),
    "flashmla_status_name": (ctypes.c_char_p, (ctypes.c_int,)),
    "flashmla_cpu_num_sm_parts": (ctypes.c_int, ()),
    "flashmla_num_sm_parts_for_sm_count": (ctypes.c_int, (ctypes.c_int,) * 3),
    "flashmla_get_num_sm_parts": (
        ctypes.c_int,
        (ctypes.c_int32, ctypes.c_int32, ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_int))
        + _ERR,
    ),
    "flashmla_decode_workspace_size": (
        ctypes.c_size_t,
        (ctypes.c_int64, ctypes.c_int, ctypes.c_int, ctypes.c_int),
    ),
    "flashmla_get_mla_metadata": (ctypes.c_int, (ctypes.POINTER(MetadataArgs),) + _ERR),
    "flashmla_mla_decode_with_kvcache": (ctypes.c_int, (ctypes.POINTER(DecodeArgs),) + _ERR),
}

_lock = threading.Lock()
_library = None


def library_path():
    """The file load() opens: $FLASHMLA_C_LIBRARY if set, else the one inside this package."""
    explicit = os.environ.get(LIBRARY_ENV)
    if explicit:
        return pathlib.Path(explicit)
    return pathlib.Path(__file__).resolve().parent / LIBRARY_NAME


def load():
    """The loaded C library (opened once, on first use, so that importing the package is cheap)."""
    global _library
    if _library is not None:
        return _library
    with _lock:
        if _library is None:
            path = library_path()
            if not path.is_file():
                raise ImportError(
                    f"flash_mla: the C library {path} is missing; build and install the package "
                    "with `pip install --no-build-isolation .` from the repository root, or set "
                    f"{LIBRARY_ENV} to a built {LIBRARY_NAME}"
                )
            lib = ctypes.CDLL(str(path))
            for name, (restype, argtypes) in _SIGNATURES.items():
                fn = getattr(lib, name)
                fn.restype = restype
                fn.argtypes = list(argtypes)
            abi = lib.flashmla_c_abi_version()
            if abi != ABI_VERSION:
                raise ImportError(
                    f"flash_mla: {path} has C ABI version {abi}, this package expects "
                    f"{ABI_VERSION}; rebuild the package"
                )
            _library = lib
    return _library


def raise_for_status(status, message, what):
    """Raises the exception matching a non-zero status: ValueError for a bad argument or bad input
    data (the caller's fault), RuntimeError for everything else."""
    if status == OK:
        return
    name = load().flashmla_status_name(status).decode()
    text = f"{what}: {name}: {message}"
    if status in (INVALID_ARGUMENT, INVALID_INPUT_DATA):
        raise ValueError(text)
    raise RuntimeError(text)


def call(what, fn, *args):
    """Calls a status-returning C function with a fresh message buffer appended to its arguments,
    raising on failure. ctypes releases the GIL for the duration of the call."""
    err = ctypes.create_string_buffer(_MESSAGE_BYTES)
    status = fn(*args, err, _MESSAGE_BYTES)
    if status != OK:
        raise_for_status(status, err.value.decode(errors="replace"), what)


def version():
    return load().flashmla_version().decode()


def has_cuda():
    return bool(load().flashmla_has_cuda())


def cpu_num_sm_parts():
    return load().flashmla_cpu_num_sm_parts()


def num_sm_parts_for_sm_count(sm_count, q_rows_per_kv_head, h_kv):
    return load().flashmla_num_sm_parts_for_sm_count(sm_count, q_rows_per_kv_head, h_kv)


def get_num_sm_parts(device_type, device_index, q_rows_per_kv_head, h_kv, what):
    parts = ctypes.c_int(0)
    lib = load()
    call(what, lib.flashmla_get_num_sm_parts, device_type, device_index, q_rows_per_kv_head, h_kv,
         ctypes.byref(parts))
    return parts.value


def decode_workspace_size(batch, num_sm_parts, q_rows_per_kv_head, h_kv):
    return load().flashmla_decode_workspace_size(batch, num_sm_parts, q_rows_per_kv_head, h_kv)
