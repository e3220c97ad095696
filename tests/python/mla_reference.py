"""Test helpers: random MLA decoding problems and a plain PyTorch reference of the computation.

The reference follows the definition in DESIGN.md section 1 literally (one sequence at a time:
gather the pages, mask, softmax) in float64 by default, so that it shares no code or trick with the
library it checks.
"""

import math
from dataclasses import dataclass

import torch

HEAD_DIM_K = 576
HEAD_DIM_V = 512
PAGE_SIZE = 64

# DESIGN.md section 5: relative error bounds of out and lse.
TOLERANCE = {torch.bfloat16: 1e-2, torch.float16: 2e-3}


@dataclass
class Problem:
    q: torch.Tensor
    k_cache: torch.Tensor
    block_table: torch.Tensor
    cache_seqlens: torch.Tensor
    s_q: int
    h_q: int
    h_kv: int

    @property
    def q_rows_per_kv_head(self):
        return self.s_q * self.h_q // self.h_kv


def make_problem(
    lengths,
    s_q,
    h_q,
    h_kv,
    dtype,
    device="cpu",
    seed=0,
    spare_pages=3,
    extra_table_columns=1,
    poison_unused=True,
):
    """A problem with the given cache lengths, built on `device` without Python loops (the GPU
    grid has caches of millions of tokens). Pages are a random permutation of the cache (never in
    order), every cache slot no sequence owns (past a length, and whole spare pages) holds NaN, and
    block-table entries past a sequence's last page point at random pages."""
    gen = torch.Generator(device=device).manual_seed(seed)
    b = len(lengths)
    lens = torch.tensor([int(n) for n in lengths], dtype=torch.int64, device=device)
    pages = (lens + PAGE_SIZE - 1) // PAGE_SIZE
    max_pages = int(pages.max().item()) if b else 0
    max_blocks = max(max_pages, 1) + extra_table_columns
    num_blocks = max(int(pages.sum().item()) + spare_pages, 1)

    order = torch.randperm(num_blocks, generator=gen, device=device)
    first_page = torch.cumsum(pages, 0) - pages
    cols = torch.arange(max_blocks, device=device)
    owned = cols[None, :] < pages[:, None]
    slot = (first_page[:, None] + cols[None, :]).clamp(max=num_blocks - 1)
    spare = torch.randint(num_blocks, (b, max_blocks), generator=gen, device=device)
    block_table = torch.where(owned, order[slot], spare).to(torch.int32)

    k_cache = torch.randn(
        (num_blocks, PAGE_SIZE, h_kv, HEAD_DIM_K), generator=gen, device=device, dtype=dtype
    )
    if poison_unused:
        max_len = int(lens.max().item()) if b else 0
        tokens = torch.arange(max_len, device=device)
        page_of = block_table.long().gather(1, (tokens // PAGE_SIZE)[None, :].expand(b, -1))
        flat = page_of * PAGE_SIZE + tokens % PAGE_SIZE
        used = torch.zeros(num_blocks * PAGE_SIZE, dtype=torch.bool, device=device)
        used[flat[tokens[None, :] < lens[:, None]]] = True
        k_cache.view(num_blocks * PAGE_SIZE, h_kv, HEAD_DIM_K)[~used] = float("nan")
    q = torch.randn((b, s_q, h_q, HEAD_DIM_K), generator=gen, device=device, dtype=dtype)
    return Problem(
        q=q,
        k_cache=k_cache,
        block_table=block_table,
        cache_seqlens=lens.to(torch.int32),
        s_q=s_q,
        h_q=h_q,
        h_kv=h_kv,
    )


def varlen_lengths(b, mean, s_q, seed, spread=0.25):
    """Normal around `mean` (std spread * mean), at least s_q: DESIGN.md's variable lengths."""
    gen = torch.Generator().manual_seed(seed)
    raw = torch.randn(b, generator=gen) * (spread * mean) + mean
    return [max(s_q, int(x)) for x in raw.tolist()]


def reference(q, k_cache, block_table, cache_seqlens, head_dim_v, softmax_scale=None, causal=False,
              dtype=torch.float64):
    """(out [b, s_q, h_q, dv], lse [b, h_q, s_q]) in `dtype`, on q's device."""
    b, s_q, h_q, d = q.shape
    h_kv = k_cache.shape[2]
    group = h_q // h_kv
    scale = softmax_scale if softmax_scale is not None else 1.0 / math.sqrt(d)
    device = q.device
    out = torch.zeros((b, s_q, h_q, head_dim_v), dtype=dtype, device=device)
    lse = torch.full((b, h_q, s_q), float("inf"), dtype=dtype, device=device)
    seqlens = cache_seqlens.tolist()
    for n in range(b):
        length = int(seqlens[n])
        if length == 0:
            continue
        pages = block_table[n, : (length + PAGE_SIZE - 1) // PAGE_SIZE].long()
        keys = k_cache[pages].reshape(-1, h_kv, d)[:length].to(dtype)  # [L, h_kv, d]
        # Query head h = kv * group + g reads kv head kv.
        qn = q[n].to(dtype).reshape(s_q, h_kv, group, d)
        scores = torch.einsum("skgd,tkd->kgst", qn, keys) * scale  # [h_kv, group, s_q, L]
        if causal:
            # Query token i sees keys 0 .. length - s_q + i.
            last = length - s_q + torch.arange(s_q, device=device)
            visible = torch.arange(length, device=device)[None, :] <= last[:, None]
        else:
            visible = torch.ones((s_q, length), dtype=torch.bool, device=device)
        scores = scores.masked_fill(~visible, float("-inf"))
        seen = visible.any(dim=1)[:, None]  # [s_q, 1]
        row_max = scores.amax(dim=-1, keepdim=True)
        row_max = torch.where(seen, row_max, torch.zeros_like(row_max))
        p = torch.exp(scores - row_max)
        total = p.sum(dim=-1, keepdim=True)
        probs = torch.where(seen, p / total, torch.zeros_like(p))
        o = torch.einsum("kgst,tkd->skgd", probs, keys[..., :head_dim_v])
        out[n] = o.reshape(s_q, h_q, head_dim_v)
        row_lse = (row_max + torch.log(total)).squeeze(-1).reshape(h_q, s_q)
        lse[n] = torch.where(seen.T, row_lse, torch.full_like(row_lse, float("inf")))
    return out, lse


def relative_error(actual, expected):
    """||actual - expected|| / ||expected|| over finite expected entries (0/0 counts as 0)."""
    actual = actual.to(torch.float64)
    expected = expected.to(torch.float64)
    mask = torch.isfinite(expected)
    diff = (actual[mask] - expected[mask]).norm().item()
    ref = expected[mask].norm().item()
    if ref == 0.0:
        return 0.0 if diff == 0.0 else math.inf
    return diff / ref


def check_against_reference(out, lse, ref_out, ref_lse, dtype, context=""):
    """Asserts the DESIGN.md criteria: no NaN, rows that see no key are exactly (0, +inf), and the
    relative errors of out and lse are within the dtype's bound."""
    assert out.shape == ref_out.shape, (out.shape, ref_out.shape)
    assert lse.shape == ref_lse.shape, (lse.shape, ref_lse.shape)
    assert not torch.isnan(out).any(), f"NaN in out {context}"
    assert not torch.isnan(lse).any(), f"NaN in lse {context}"
    empty = torch.isinf(ref_lse)
    assert torch.equal(torch.isposinf(lse), empty), f"rows with lse = +inf differ {context}"
    # out is [b, s_q, h_q, dv], lse [b, h_q, s_q].
    empty_rows = empty.transpose(1, 2)
    assert torch.all(out[empty_rows] == 0), f"rows that see no key are not 0 {context}"
    tol = TOLERANCE[dtype]
    out_err = relative_error(out, ref_out)
    lse_err = relative_error(lse, ref_lse)
    assert out_err < tol, f"out relative error {out_err:.3e} >= {tol} {context}"
    assert lse_err < tol, f"lse relative error {lse_err:.3e} >= {tol} {context}"
    return out_err, lse_err
