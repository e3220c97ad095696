"""The PyTorch custom operators flash_mla::get_mla_metadata and flash_mla::flash_mla_with_kvcache.

Each operator allocates its outputs (and the decode workspace) with torch, so that they come from
the caching allocator (and from a CUDA graph's private pool during capture), then hands raw pointers,
shapes and strides to the C library on the current stream. The fake (meta) implementations compute
the output shapes without touching data, which is what torch.compile traces.
"""

import contextlib
import ctypes
import math
from typing import Optional

import torch

from . import _constants, _lib

_DTYPE_CODES = {
    torch.bfloat16: _lib.DTYPE_BFLOAT16,
    torch.float16: _lib.DTYPE_FLOAT16,
    torch.float32: _lib.DTYPE_FLOAT32,
    torch.int32: _lib.DTYPE_INT32,
}

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1


def _check_int32(name, value, what):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what}: {name}: expected an int, got {type(value).__name__}")
    if not _INT32_MIN <= value <= _INT32_MAX:
        raise ValueError(f"{what}: {name}: expected a value that fits in int32, got {value}")


def _device_code(device, name, what):
    if device.type == "cpu":
        return _lib.DEVICE_CPU, 0
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return _lib.DEVICE_CUDA, index
    raise RuntimeError(
        f"{what}: unsupported device: {name}: tensors on {device} are not supported "
        "(flash_mla runs on cpu and cuda tensors)"
    )


def _describe(t, name, expected_dtype, what):
    """The C view of a tensor. Dtypes and ranks the C structs cannot express are rejected here;
    everything else (shapes, strides, devices, dtypes that do not fit the call) is judged by the
    library, whose messages name the argument, the expected and the actual value."""
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{what}: {name}: expected a torch.Tensor, got {type(t).__name__}")
    code = _DTYPE_CODES.get(t.dtype)
    if code is None:
        raise ValueError(
            f"{what}: invalid argument: {name}: expected dtype {expected_dtype}, got {t.dtype}"
        )
    if t.dim() > _lib.MAX_DIMS:
        raise ValueError(
            f"{what}: invalid argument: {name}: expected at most {_lib.MAX_DIMS} dimensions, "
            f"got {t.dim()} (shape {list(t.shape)})"
        )
    device_type, device_index = _device_code(t.device, name, what)
    c = _lib.Tensor()
    c.data = t.data_ptr() or None
    c.dtype = code
    c.device_type = device_type
    c.device_index = device_index
    c.ndim = t.dim()
    for d, (size, stride) in enumerate(zip(t.shape, t.stride())):
        c.shape[d] = size
        c.strides[d] = stride
    return c


def _device_guard(device):
    """Makes `device` current for the call, so that allocations and the current stream are those of
    the tensors' device rather than of whatever device happens to be current."""
    if device.type == "cuda":
        return torch.cuda.device(device)
    return contextlib.nullcontext()


def _stream_of(device):
    if device.type == "cuda":
        return torch.cuda.current_stream(device).cuda_stream or None
    return None


def _batch_of(cache_seqlens):
    # Lenient on purpose: a wrong rank is reported by the library with its own message.
    return cache_seqlens.shape[0] if cache_seqlens.dim() >= 1 else 0


# --------------------------------------------------------------------------------------------
# get_mla_metadata
# --------------------------------------------------------------------------------------------

_METADATA = "get_mla_metadata"


def _metadata_parts_real(device, q_rows_per_kv_head, h_kv):
    device_type, device_index = _device_code(device, "cache_seqlens", _METADATA)
    return _lib.get_num_sm_parts(device_type, device_index, q_rows_per_kv_head, h_kv, _METADATA)


def _metadata_parts_fake(device, q_rows_per_kv_head, h_kv):
    # The same formula the library applies to the device it reads, without a call into CUDA from the
    # library (fake tensors may be traced where the real device is not even present).
    if device.type == "cuda":
        sm_count = torch.cuda.get_device_properties(device).multi_processor_count
        return _lib.num_sm_parts_for_sm_count(sm_count, q_rows_per_kv_head, h_kv)
    if device.type == "cpu":
        return _lib.cpu_num_sm_parts()
    _device_code(device, "cache_seqlens", _METADATA)  # raises
    return 1


@torch.library.custom_op("flash_mla::get_mla_metadata", mutates_args=())
def get_mla_metadata_op(
    cache_seqlens: torch.Tensor, num_heads_per_head_k: int, num_heads_k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    _check_int32("num_heads_per_head_k", num_heads_per_head_k, _METADATA)
    _check_int32("num_heads_k", num_heads_k, _METADATA)
    device = cache_seqlens.device
    c_seqlens = _describe(cache_seqlens, "cache_seqlens", "torch.int32", _METADATA)
    with _device_guard(device):
        parts = _metadata_parts_real(device, num_heads_per_head_k, num_heads_k)
        metadata = torch.empty(
            (parts, _constants.METADATA_FIELDS), dtype=torch.int32, device=device
        )
        num_splits = torch.empty((_batch_of(cache_seqlens) + 1,), dtype=torch.int32, device=device)
        args = _lib.MetadataArgs()
        args.cache_seqlens = c_seqlens
        args.q_rows_per_kv_head = num_heads_per_head_k
        args.h_kv = num_heads_k
        args.tile_scheduler_metadata = _describe(
            metadata, "tile_scheduler_metadata", "torch.int32", _METADATA
        )
        args.num_splits = _describe(num_splits, "num_splits", "torch.int32", _METADATA)
        args.stream = _stream_of(device)
        lib = _lib.load()
        _lib.call(_METADATA, lib.flashmla_get_mla_metadata, ctypes.byref(args))
    return metadata, num_splits


@get_mla_metadata_op.register_fake
def _get_mla_metadata_fake(cache_seqlens, num_heads_per_head_k, num_heads_k):
    parts = _metadata_parts_fake(cache_seqlens.device, num_heads_per_head_k, num_heads_k)
    metadata = cache_seqlens.new_empty((parts, _constants.METADATA_FIELDS), dtype=torch.int32)
    num_splits = cache_seqlens.new_empty((_batch_of(cache_seqlens) + 1,), dtype=torch.int32)
    return metadata, num_splits


# --------------------------------------------------------------------------------------------
# flash_mla_with_kvcache
# --------------------------------------------------------------------------------------------

_DECODE = "flash_mla_with_kvcache"


def _output_shapes(q, head_dim_v):
    """(out shape, lse shape). For a q of the wrong rank the shapes are placeholders: the library
    rejects q before it looks at the outputs."""
    if q.dim() == 4:
        b, s_q, h_q = q.shape[0], q.shape[1], q.shape[2]
    else:
        b, s_q, h_q = 0, 0, 0
    return (b, s_q, h_q, head_dim_v), (b, h_q, s_q)


def _workspace_bytes(q, k_cache, cache_seqlens, tile_scheduler_metadata):
    """Scratch bytes for the split partial results, or 0 where the shapes are already invalid (the
    library then reports the shape, not the workspace)."""
    if q.dim() != 4 or k_cache.dim() != 4 or tile_scheduler_metadata.dim() != 2:
        return 0
    b, s_q, h_q = q.shape[0], q.shape[1], q.shape[2]
    h_kv = k_cache.shape[2]
    if not (0 < h_kv <= h_q <= _constants.MAX_QUERY_HEADS and h_q % h_kv == 0):
        return 0
    if not 0 < s_q <= _constants.MAX_QUERY_TOKENS:
        return 0
    parts = tile_scheduler_metadata.shape[0]
    if not 0 < parts <= _INT32_MAX:
        return 0
    return _lib.decode_workspace_size(b, parts, s_q * (h_q // h_kv), h_kv)


@torch.library.custom_op("flash_mla::flash_mla_with_kvcache", mutates_args=())
def flash_mla_with_kvcache_op(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    block_table: torch.Tensor,
    cache_seqlens: torch.Tensor,
    head_dim_v: int,
    tile_scheduler_metadata: torch.Tensor,
    num_splits: torch.Tensor,
    softmax_scale: Optional[float],
    causal: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    _check_int32("head_dim_v", head_dim_v, _DECODE)
    if softmax_scale is None:
        scale = 0.0  # the library's "default": 1/sqrt(576)
    else:
        scale = float(softmax_scale)
        if not (math.isfinite(scale) and scale > 0.0):
            raise ValueError(
                f"{_DECODE}: invalid argument: softmax_scale: expected a finite value > 0 "
                f"(or None for 1/sqrt({_constants.HEAD_DIM_K})), got {softmax_scale}"
            )
    args = _lib.DecodeArgs()
    args.q = _describe(q, "q", "torch.bfloat16 or torch.float16", _DECODE)
    args.k_cache = _describe(k_cache, "k_cache", f"{q.dtype} (the dtype of q)", _DECODE)
    args.block_table = _describe(block_table, "block_table", "torch.int32", _DECODE)
    args.cache_seqlens = _describe(cache_seqlens, "cache_seqlens", "torch.int32", _DECODE)
    args.tile_scheduler_metadata = _describe(
        tile_scheduler_metadata, "tile_scheduler_metadata", "torch.int32", _DECODE
    )
    args.num_splits = _describe(num_splits, "num_splits", "torch.int32", _DECODE)
    args.head_dim_v = head_dim_v
    args.softmax_scale = scale
    args.causal = 1 if causal else 0

    device = q.device
    # head_dim_v has one valid value; sizing out with it (not with a wrong head_dim_v) lets the
    # library report the head_dim_v argument itself rather than the shape of out.
    out_shape, lse_shape = _output_shapes(q, _constants.HEAD_DIM_V)
    with _device_guard(device):
        out = torch.empty(out_shape, dtype=q.dtype, device=device)
        lse = torch.empty(lse_shape, dtype=torch.float32, device=device)
        args.out = _describe(out, "out", "the dtype of q", _DECODE)
        args.lse = _describe(lse, "lse", "torch.float32", _DECODE)
        workspace = None
        if device.type == "cuda":
            # The CPU backend allocates its own scratch; on CUDA it must come from the caller (and
            # here from torch's allocator, so that graph capture and memory accounting see it).
            nbytes = _workspace_bytes(q, k_cache, cache_seqlens, tile_scheduler_metadata)
            if nbytes > 0:
                workspace = torch.empty((nbytes,), dtype=torch.uint8, device=device)
                args.workspace = workspace.data_ptr()
                args.workspace_bytes = nbytes
        args.stream = _stream_of(device)
        lib = _lib.load()
        _lib.call(_DECODE, lib.flashmla_mla_decode_with_kvcache, ctypes.byref(args))
    return out, lse


@flash_mla_with_kvcache_op.register_fake
def _flash_mla_with_kvcache_fake(
    q,
    k_cache,
    block_table,
    cache_seqlens,
    head_dim_v,
    tile_scheduler_metadata,
    num_splits,
    softmax_scale,
    causal,
):
    if q.dim() != 4:
        raise ValueError(
            f"{_DECODE}: invalid argument: q: expected 4 dimensions [b, s_q, h_q, "
            f"{_constants.HEAD_DIM_K}], got {q.dim()}"
        )
    # The dispatcher sends a call here as soon as one tensor is on the meta device; mixing devices
    # must fail as it does in the real call.
    for name, t in (
        ("k_cache", k_cache),
        ("block_table", block_table),
        ("cache_seqlens", cache_seqlens),
        ("tile_scheduler_metadata", tile_scheduler_metadata),
        ("num_splits", num_splits),
    ):
        if t.device != q.device:
            raise ValueError(
                f"{_DECODE}: invalid argument: {name}: expected device {q.device} (the device of "
                f"q), got {t.device}; all tensors of a call must be on one device"
            )
    out_shape, lse_shape = _output_shapes(q, head_dim_v)
    out = q.new_empty(out_shape)
    lse = q.new_empty(lse_shape, dtype=torch.float32)
    return out, lse
