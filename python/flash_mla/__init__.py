"""flash_mla: Multi-head Latent Attention decoding over a paged KV cache, for PyTorch.

A drop-in replacement for the reference FlashMLA package's decoding API::

    from flash_mla import get_mla_metadata, flash_mla_with_kvcache

    tile_scheduler_metadata, num_splits = get_mla_metadata(
        cache_seqlens, s_q * h_q // h_kv, h_kv)
    for layer in range(num_layers):
        ...
        o, lse = flash_mla_with_kvcache(
            q, k_cache, block_table, cache_seqlens, dv,
            tile_scheduler_metadata, num_splits, causal=True)

CUDA tensors run the Hopper kernels of libflashmla_c.so; CPU tensors run its exact CPU backend.
Both functions are torch custom operators (namespace ``flash_mla``) with fake implementations.
"""

from . import _lib
from .interface import flash_mla_with_kvcache, get_mla_metadata

__all__ = ["flash_mla_with_kvcache", "get_mla_metadata", "has_cuda", "library_version"]

__version__ = "0.1.0"


def has_cuda() -> bool:
    """Whether the loaded C library was built with the CUDA (sm_90a) backend."""
    return _lib.has_cuda()


def library_version() -> str:
    """Version string of the loaded C library, "MAJOR.MINOR.PATCH"."""
    return _lib.version()
