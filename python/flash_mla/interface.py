"""The public functions, with the names, signatures and defaults of the reference FlashMLA API."""

from typing import Optional, Tuple

import torch

from . import _ops


def _check_types(what, **kwargs):
    """Rejects arguments of the wrong Python type with a ValueError naming them, before the torch
    dispatcher would reject them with a less specific RuntimeError. SymInts (traced sizes under
    torch.compile with dynamic shapes) count as ints."""
    for name, (value, kind) in kwargs.items():
        if kind == "tensor":
            ok = isinstance(value, torch.Tensor)
            expected = "a torch.Tensor"
        elif kind == "int":
            ok = isinstance(value, (int, torch.SymInt)) and not isinstance(value, bool)
            expected = "an int"
        elif kind == "float?":
            ok = value is None or (
                isinstance(value, (int, float, torch.SymFloat)) and not isinstance(value, bool)
            )
            expected = "a float or None"
        else:  # "bool" (ints are accepted as truth values, as the reference API does)
            ok = isinstance(value, (bool, int, torch.SymBool))
            expected = "a bool"
        if not ok:
            raise ValueError(
                f"{what}: invalid argument: {name}: expected {expected}, got {type(value).__name__}"
            )


def get_mla_metadata(
    cache_seqlens: torch.Tensor,
    num_heads_per_head_k: int,
    num_heads_k: int,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Plans how the KV pages of every sequence are split over the device's SM parts.

    Call it once per decode step (the lengths change every step) and pass its two results to every
    layer's flash_mla_with_kvcache() call of that step.

    Args:
        cache_seqlens: ``[b]`` int32, contiguous, on the device that will run the decode: the
            number of tokens in each sequence's cache, the new tokens included. ``b >= 1``, every
            length ``>= 0``.
        num_heads_per_head_k: query rows that share one KV head, ``s_q * h_q // h_kv`` (with
            ``s_q`` the query tokens per sequence, 1 for plain decoding, up to 8 for speculative
            decoding).
        num_heads_k: the number of KV heads ``h_kv`` (1 for DeepSeek-V2/V3/R1).

    Returns:
        ``(tile_scheduler_metadata, num_splits)``, both int32 on ``cache_seqlens.device``:

        - ``tile_scheduler_metadata``: ``[num_sm_parts, 8]``, the share of work of each SM part.
          On CUDA ``num_sm_parts = sm_count // h_kv // ceil(num_heads_per_head_k / 64)`` (at least
          1); on the CPU it is the number of worker threads (``FLASHMLA_CPU_THREADS``, else the
          hardware concurrency).
        - ``num_splits``: ``[b + 1]``, prefix sums of the number of splits of each sequence
          (``num_splits[0] == 0``).

    On CUDA this runs a small kernel on the current stream that reads ``cache_seqlens`` on the
    device: no host synchronisation, so it can be captured in a CUDA graph. It is a torch custom
    operator (``torch.ops.flash_mla.get_mla_metadata``) and traces under ``torch.compile``.

    Raises:
        ValueError: an argument's dtype, shape, stride, device or value is invalid (the message
            names the argument, the expected and the actual value).
        RuntimeError: the tensors are on a device this build cannot run on (no CUDA backend, or a
            GPU other than Hopper), or a CUDA error.
    """
    _check_types(
        "get_mla_metadata",
        cache_seqlens=(cache_seqlens, "tensor"),
        num_heads_per_head_k=(num_heads_per_head_k, "int"),
        num_heads_k=(num_heads_k, "int"),
    )
    return _ops.get_mla_metadata_op(cache_seqlens, num_heads_per_head_k, num_heads_k)


def flash_mla_with_kvcache(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    block_table: torch.Tensor,
    cache_seqlens: torch.Tensor,
    head_dim_v: int,
    tile_scheduler_metadata: torch.Tensor,
    num_splits: torch.Tensor,
    softmax_scale: Optional[float] = None,
    causal: bool = False,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Multi-head latent attention decoding over a paged KV cache.

    For query token ``i`` of sequence ``n`` and head ``h``, with ``L = cache_seqlens[n]``, the
    visible keys are ``0 .. L-1`` (with ``causal``: ``0 .. L - s_q + i``). The scores are
    ``S_t = softmax_scale * <q, K_t>``, ``out = softmax(S) @ V`` and ``lse = logsumexp(S)`` (natural
    log). Query head ``h`` reads KV head ``h // (h_q // h_kv)``. Token ``t`` of sequence ``n`` is
    ``k_cache[block_table[n, t // 64], t % 64]``; cache slots past ``L`` are never read into the
    result (they may hold anything, NaN included). A row that sees no key (``L == 0``, or causal
    with ``L - s_q + i < 0``) gets ``out = 0`` and ``lse = +inf``. The value vectors are the first
    ``head_dim_v`` columns of the keys, stored once.

    Args:
        q: ``[b, s_q, h_q, 576]`` bfloat16 or float16 (512 latent + 64 rotary columns);
            ``1 <= s_q <= 8``, ``h_q <= 128``. The last dimension must be contiguous; the other
            strides are free on the CPU, and on CUDA multiples of 8 elements with a 16-byte
            aligned data pointer (the kernels copy 16-byte vectors).
        k_cache: ``[num_blocks, 64, h_kv, 576]``, the dtype of ``q``, pages of 64 tokens; last
            dimension contiguous. ``h_kv`` divides ``h_q``.
        block_table: ``[b, max_blocks_per_seq]`` int32, last dimension contiguous: the page id of
            the ``j``-th 64-token page of sequence ``i``. Entries past a sequence's last page are
            not read.
        cache_seqlens: ``[b]`` int32, contiguous: tokens in each sequence's cache, the new tokens
            included; ``0 <= L <= 64 * max_blocks_per_seq``.
        head_dim_v: width of the values; must be 512.
        tile_scheduler_metadata: from get_mla_metadata() for these ``cache_seqlens`` and
            ``num_heads_per_head_k = s_q * h_q // h_kv``, ``num_heads_k = h_kv``.
        num_splits: from the same get_mla_metadata() call.
        softmax_scale: scale of the scores; ``None`` means ``1 / sqrt(576)``. Otherwise finite and
            ``> 0``.
        causal: speculative decoding: query token ``i`` of ``s_q`` sees keys
            ``0 .. L - s_q + i`` only.

    Returns:
        ``(out, lse)``, new contiguous tensors on ``q.device``:

        - ``out``: ``[b, s_q, h_q, head_dim_v]``, the dtype of ``q``.
        - ``lse``: ``[b, h_q, s_q]`` float32, the log-sum-exp of each row's scaled scores.

    All tensors must be on one device. CPU tensors run the CPU backend (float32 accumulation,
    multithreaded, the same split plan); CUDA tensors run the Hopper (sm_90a) kernels on the current
    stream of ``q``'s device, without host synchronisation, so a whole decode step can be captured
    in a CUDA graph. The scratch memory for split results is allocated with torch's caching
    allocator. Setting ``FLASHMLA_CHECK_INPUTS=1`` makes the GPU path validate ``cache_seqlens``,
    ``block_table``, the metadata's shape stamp and its coverage of these lengths first (one host
    sync; not during capture). It is
    a torch custom operator (``torch.ops.flash_mla.flash_mla_with_kvcache``) with a fake
    implementation, so it traces under ``torch.compile(fullgraph=True)``. It has no autograd
    formula (inference only).

    Raises:
        ValueError: an argument's dtype, shape, stride, device or value is invalid, the metadata
            was planned for another shape, or (for CPU tensors, which are always checked) a length
            or page id is out of range. The message names the argument, the expected and the actual
            value.
        RuntimeError: the tensors are on a device this build cannot run on, or a CUDA error.
    """
    _check_types(
        "flash_mla_with_kvcache",
        q=(q, "tensor"),
        k_cache=(k_cache, "tensor"),
        block_table=(block_table, "tensor"),
        cache_seqlens=(cache_seqlens, "tensor"),
        head_dim_v=(head_dim_v, "int"),
        tile_scheduler_metadata=(tile_scheduler_metadata, "tensor"),
        num_splits=(num_splits, "tensor"),
        softmax_scale=(softmax_scale, "float?"),
        causal=(causal, "bool"),
    )
    if softmax_scale is not None:
        softmax_scale = float(softmax_scale)
    if isinstance(causal, int):
        causal = bool(causal)
    return _ops.flash_mla_with_kvcache_op(
        q,
        k_cache,
        block_table,
        cache_seqlens,
        head_dim_v,
        tile_scheduler_metadata,
        num_splits,
        softmax_scale,
        causal,
    )
