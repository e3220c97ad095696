"""The CUDA path of flash_mla: the DESIGN.md grid and edge cases against the float64 reference,
the metadata kernel against the host scheduler, CUDA graphs, streams and torch.compile.

Every test here skips where torch sees no CUDA device. FLASHMLA_TEST_GRID=sample runs a quarter of
the b = 128 grid (the default runs all of it: about a minute on an H100).
"""

import os

import pytest

torch = pytest.importorskip("torch", reason="the flash_mla tests need PyTorch")
flash_mla = pytest.importorskip("flash_mla", reason="the flash_mla package is not installed")

from mla_reference import (  # noqa: E402
    HEAD_DIM_V,
    check_against_reference,
    make_problem,
    reference,
    varlen_lengths,
)

HAS_CUDA = torch.cuda.is_available()
IS_HOPPER = HAS_CUDA and torch.cuda.get_device_capability()[0] == 9

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device (torch.cuda.is_available() is false)"),
]
needs_hopper = pytest.mark.skipif(
    not IS_HOPPER, reason="the CUDA backend runs on Hopper (compute capability 9.x) only"
)


def run(p, softmax_scale=None, causal=False):
    metadata, num_splits = flash_mla.get_mla_metadata(p.cache_seqlens, p.q_rows_per_kv_head, p.h_kv)
    return flash_mla.flash_mla_with_kvcache(
        p.q, p.k_cache, p.block_table, p.cache_seqlens, HEAD_DIM_V, metadata, num_splits,
        softmax_scale=softmax_scale, causal=causal,
    )


def check(p, dtype, causal=False, softmax_scale=None, context=""):
    out, lse = run(p, softmax_scale=softmax_scale, causal=causal)
    torch.cuda.synchronize()
    ref_out, ref_lse = reference(
        p.q, p.k_cache, p.block_table, p.cache_seqlens, HEAD_DIM_V,
        softmax_scale=softmax_scale, causal=causal,
    )
    assert out.device == p.q.device and lse.device == p.q.device
    assert out.is_contiguous() and lse.is_contiguous()
    return check_against_reference(out, lse, ref_out, ref_lse, dtype, context)


def test_build_has_cuda_backend():
    # A GPU host must build the kernels (FLASHMLA_CUDA=AUTO finds nvcc); a CPU-only build here
    # would silently skip everything below.
    assert flash_mla.has_cuda(), "flash_mla was built without the CUDA backend on a GPU host"


# --------------------------------------------------------------------------------------------
# DESIGN.md section 5 grid: b = 128
# --------------------------------------------------------------------------------------------

GRID = [
    (s_k, h_q, s_q, varlen)
    for s_k in (4096, 8192, 16384)
    for h_q in (16, 32, 64, 128)
    for s_q in (1, 2)
    for varlen in (False, True)
]
if os.environ.get("FLASHMLA_TEST_GRID") == "sample":
    GRID = GRID[::4]


@needs_hopper
@pytest.mark.parametrize("s_k,h_q,s_q,varlen", GRID,
                         ids=[f"sk{a}-hq{b}-sq{c}-{'var' if d else 'fix'}" for a, b, c, d in GRID])
def test_grid_bf16(s_k, h_q, s_q, varlen):
    b = 128
    lengths = varlen_lengths(b, s_k, s_q, seed=s_k + h_q) if varlen else [s_k] * b
    p = make_problem(lengths, s_q=s_q, h_q=h_q, h_kv=1, dtype=torch.bfloat16, device="cuda",
                     seed=h_q * 10 + s_q)
    check(p, torch.bfloat16, causal=s_q > 1)


@needs_hopper
@pytest.mark.parametrize("h_q,s_q", [(16, 1), (128, 1), (64, 2), (128, 2)])
def test_grid_fp16(h_q, s_q):
    p = make_problem(varlen_lengths(128, 4096, s_q, seed=h_q), s_q=s_q, h_q=h_q, h_kv=1,
                     dtype=torch.float16, device="cuda", seed=h_q + s_q)
    check(p, torch.float16, causal=s_q > 1)


# --------------------------------------------------------------------------------------------
# Edge cases
# --------------------------------------------------------------------------------------------


@needs_hopper
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("length", [0, 1, 63, 64, 65])
@pytest.mark.parametrize("s_q", [1, 2, 8])
def test_single_sequence_lengths(dtype, length, s_q):
    p = make_problem([length], s_q=s_q, h_q=128 // s_q, h_kv=1, dtype=dtype, device="cuda",
                     seed=length + s_q)
    check(p, dtype, causal=s_q > 1)


@needs_hopper
@pytest.mark.parametrize("s_q", [1, 2, 3, 4, 5, 6, 7, 8])
def test_speculative_s_q(s_q):
    p = make_problem([0, 1, 5, 63, 64, 65, 300, 1000], s_q=s_q, h_q=16, h_kv=1,
                     dtype=torch.bfloat16, device="cuda", seed=s_q)
    check(p, torch.bfloat16, causal=True)


@needs_hopper
@pytest.mark.parametrize("h_kv", [1, 2])
def test_kv_heads(h_kv):
    p = make_problem([100, 2000, 64, 3], s_q=2, h_q=32, h_kv=h_kv, dtype=torch.bfloat16,
                     device="cuda", seed=h_kv)
    check(p, torch.bfloat16, causal=True)


@needs_hopper
def test_long_sequence_64k():
    p = make_problem([65536 + 100], s_q=1, h_q=128, h_kv=1, dtype=torch.bfloat16, device="cuda",
                     seed=64)
    check(p, torch.bfloat16)


@needs_hopper
def test_one_huge_sequence_among_short():
    lengths = [3, 70, 1, 50000, 64, 0, 129, 9]
    p = make_problem(lengths, s_q=4, h_q=16, h_kv=1, dtype=torch.bfloat16, device="cuda", seed=4)
    check(p, torch.bfloat16, causal=True)


@needs_hopper
def test_softmax_scale():
    p = make_problem([500, 77], s_q=1, h_q=64, h_kv=1, dtype=torch.bfloat16, device="cuda", seed=8)
    check(p, torch.bfloat16, softmax_scale=0.02)


@needs_hopper
def test_non_contiguous_q_and_k_cache():
    dtype = torch.bfloat16
    p = make_problem([777, 140, 64], s_q=2, h_q=32, h_kv=1, dtype=dtype, device="cuda", seed=9)
    expected_out, expected_lse = run(p, causal=True)
    b, s_q, h_q, d = p.q.shape
    wide_q = torch.full((b, h_q, s_q, d + 64), float("nan"), dtype=dtype, device="cuda")
    wide_q[..., :d] = p.q.transpose(1, 2)
    nb, page, h_kv, _ = p.k_cache.shape
    wide_k = torch.full((page, nb, h_kv, d + 64), float("nan"), dtype=dtype, device="cuda")
    wide_k[..., :d] = p.k_cache.transpose(0, 1)
    p.q = wide_q.transpose(1, 2)[..., :d]
    p.k_cache = wide_k.transpose(0, 1)[..., :d]
    out, lse = run(p, causal=True)
    torch.testing.assert_close(out, expected_out)
    torch.testing.assert_close(lse, expected_lse)


# --------------------------------------------------------------------------------------------
# Metadata: the GPU kernel follows the host scheduler exactly
# --------------------------------------------------------------------------------------------


@needs_hopper
@pytest.mark.parametrize("h_q,s_q", [(16, 1), (128, 1), (128, 2), (64, 8)])
def test_metadata_matches_host_scheduler(cpu_threads, h_q, s_q):
    lengths = varlen_lengths(97, 3000, s_q, seed=h_q) + [0, 1, 65536, 64]
    seqlens = torch.tensor(lengths, dtype=torch.int32, device="cuda")
    metadata, num_splits = flash_mla.get_mla_metadata(seqlens, s_q * h_q, 1)
    sm_count = torch.cuda.get_device_properties(0).multi_processor_count
    expected_parts = max(1, sm_count // ((s_q * h_q + 63) // 64))
    assert metadata.shape == (expected_parts, 8) and metadata.device == seqlens.device
    cpu_threads(expected_parts)
    host_metadata, host_splits = flash_mla.get_mla_metadata(seqlens.cpu(), s_q * h_q, 1)
    assert torch.equal(metadata.cpu(), host_metadata)
    assert torch.equal(num_splits.cpu(), host_splits)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@needs_hopper
def test_device_mismatch():
    p = make_problem([100, 64], s_q=1, h_q=16, h_kv=1, dtype=torch.bfloat16, device="cuda")
    metadata, num_splits = flash_mla.get_mla_metadata(p.cache_seqlens, 16, 1)
    with pytest.raises(ValueError, match=r"k_cache: expected device cuda:0 \(the device of q\), got cpu"):
        flash_mla.flash_mla_with_kvcache(p.q, p.k_cache.cpu(), p.block_table, p.cache_seqlens,
                                         HEAD_DIM_V, metadata, num_splits)
    with pytest.raises(ValueError, match=r"tile_scheduler_metadata: expected device cuda:0"):
        flash_mla.flash_mla_with_kvcache(p.q, p.k_cache, p.block_table, p.cache_seqlens,
                                         HEAD_DIM_V, metadata.cpu(), num_splits)


@needs_hopper
def test_metadata_of_another_shape():
    # A plan for 16 query rows has more SM parts than one for 128 rows: the decode must notice.
    p = make_problem([100, 64], s_q=1, h_q=128, h_kv=1, dtype=torch.bfloat16, device="cuda")
    metadata, num_splits = flash_mla.get_mla_metadata(p.cache_seqlens, 16, 1)
    with pytest.raises(ValueError, match=r"tile_scheduler_metadata: expected \[\d+, 8\] for this device"):
        flash_mla.flash_mla_with_kvcache(p.q, p.k_cache, p.block_table, p.cache_seqlens,
                                         HEAD_DIM_V, metadata, num_splits)


@needs_hopper
def test_input_checking_mode(monkeypatch):
    p = make_problem([100, 64], s_q=1, h_q=16, h_kv=1, dtype=torch.bfloat16, device="cuda")
    metadata, num_splits = flash_mla.get_mla_metadata(p.cache_seqlens, 16, 1)
    p.block_table[1, 0] = 10**6
    monkeypatch.setenv("FLASHMLA_CHECK_INPUTS", "1")
    with pytest.raises(ValueError, match=r"block_table"):
        flash_mla.flash_mla_with_kvcache(p.q, p.k_cache, p.block_table, p.cache_seqlens,
                                         HEAD_DIM_V, metadata, num_splits)


# --------------------------------------------------------------------------------------------
# Streams, devices, CUDA graphs, torch.compile
# --------------------------------------------------------------------------------------------


@needs_hopper
def test_side_stream():
    p = make_problem([3000, 64, 1], s_q=2, h_q=64, h_kv=1, dtype=torch.bfloat16, device="cuda")
    expected = run(p, causal=True)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        out, lse = run(p, causal=True)
    stream.synchronize()
    torch.testing.assert_close(out, expected[0], rtol=0, atol=0)
    torch.testing.assert_close(lse, expected[1], rtol=0, atol=0)


@needs_hopper
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_tensors_on_another_device_than_the_current_one():
    p = make_problem([700, 64], s_q=1, h_q=16, h_kv=1, dtype=torch.bfloat16, device="cuda:1")
    with torch.cuda.device(0):
        out, lse = run(p)
    assert out.device == torch.device("cuda:1")
    check(p, torch.bfloat16)


@needs_hopper
def test_cuda_graph_capture_and_replay():
    # A whole decode step (plan + 3 layers) in one graph; the replay after new lengths and queries
    # are copied into the static inputs must give the eager results for those inputs.
    lengths = [900, 64, 1, 2000]
    p = make_problem(lengths, s_q=2, h_q=64, h_kv=1, dtype=torch.bfloat16, device="cuda", seed=1,
                     extra_table_columns=8)
    q_rows, h_kv = p.q_rows_per_kv_head, p.h_kv

    def step():
        metadata, num_splits = flash_mla.get_mla_metadata(p.cache_seqlens, q_rows, h_kv)
        outs = []
        for layer in range(3):
            out, lse = flash_mla.flash_mla_with_kvcache(
                p.q * (layer + 1), p.k_cache, p.block_table, p.cache_seqlens, HEAD_DIM_V,
                metadata, num_splits, causal=True)
            outs.append((out, lse))
        return outs

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        step()  # warm-up outside capture
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_outs = step()

    # New step: longer sequences (still within the block table's capacity), new queries. The
    # new tokens' cache slots must hold real values: they were NaN as unused slots.
    new_lengths = torch.tensor([950, 130, 64, 2001], dtype=torch.int32, device="cuda")
    p.cache_seqlens.copy_(new_lengths)
    p.k_cache.copy_(torch.randn_like(p.k_cache))
    p.q.copy_(torch.randn_like(p.q))
    graph.replay()
    torch.cuda.synchronize()
    eager = step()
    for (out, lse), (ref_out, ref_lse) in zip(static_outs, eager):
        assert not torch.isnan(out).any()
        torch.testing.assert_close(out, ref_out, rtol=0, atol=0)
        torch.testing.assert_close(lse, ref_lse, rtol=0, atol=0)
    check(p, torch.bfloat16, causal=True)


@needs_hopper
@pytest.mark.parametrize("mode", [None, "reduce-overhead"])
def test_torch_compile(mode):
    torch._dynamo.reset()
    p = make_problem([1000, 64, 5], s_q=2, h_q=32, h_kv=1, dtype=torch.bfloat16, device="cuda")

    def step(q, k_cache, block_table, cache_seqlens):
        metadata, num_splits = flash_mla.get_mla_metadata(cache_seqlens, 2 * 32, 1)
        out, lse = flash_mla.flash_mla_with_kvcache(q, k_cache, block_table, cache_seqlens,
                                                    HEAD_DIM_V, metadata, num_splits, causal=True)
        return out.float() * 2, lse

    args = (p.q, p.k_cache, p.block_table, p.cache_seqlens)
    expected = step(*args)
    compiled = torch.compile(step, fullgraph=True, mode=mode)
    for _ in range(3):  # reduce-overhead records a graph on a later call
        got = compiled(*args)
    torch.testing.assert_close(got[0], expected[0], rtol=0, atol=0)
    torch.testing.assert_close(got[1], expected[1], rtol=0, atol=0)


@needs_hopper
def test_opcheck_cuda():
    p = make_problem([300, 64], s_q=1, h_q=16, h_kv=1, dtype=torch.bfloat16, device="cuda")
    torch.library.opcheck(torch.ops.flash_mla.get_mla_metadata.default, (p.cache_seqlens, 16, 1))
    metadata, num_splits = flash_mla.get_mla_metadata(p.cache_seqlens, 16, 1)
    torch.library.opcheck(
        torch.ops.flash_mla.flash_mla_with_kvcache.default,
        (p.q, p.k_cache, p.block_table, p.cache_seqlens, HEAD_DIM_V, metadata, num_splits, None,
         False),
    )
