"""The operators under torch.library.opcheck and torch.compile(fullgraph=True), on the CPU."""

import pytest

torch = pytest.importorskip("torch", reason="the flash_mla tests need PyTorch")
flash_mla = pytest.importorskip("flash_mla", reason="the flash_mla package is not installed")

from mla_reference import HEAD_DIM_V, make_problem  # noqa: E402


@pytest.fixture
def problem():
    return make_problem([130, 64, 5], s_q=2, h_q=16, h_kv=1, dtype=torch.bfloat16, seed=17)


def decode_step(q, k_cache, block_table, cache_seqlens, layers=2):
    """One decode step as a model runs it: plan once, then one attention call per layer."""
    s_q, h_q, h_kv = q.shape[1], q.shape[2], k_cache.shape[2]
    metadata, num_splits = flash_mla.get_mla_metadata(cache_seqlens, s_q * h_q // h_kv, h_kv)
    outs = []
    for layer in range(layers):
        out, lse = flash_mla.flash_mla_with_kvcache(
            q * (layer + 1), k_cache, block_table, cache_seqlens, HEAD_DIM_V, metadata, num_splits,
            causal=True,
        )
        outs.append(out.float().sum(-1) + lse.transpose(1, 2))
    return torch.stack(outs)


def test_opcheck_metadata(problem):
    torch.library.opcheck(
        torch.ops.flash_mla.get_mla_metadata.default,
        (problem.cache_seqlens, problem.q_rows_per_kv_head, problem.h_kv),
    )


def test_opcheck_decode(problem):
    metadata, num_splits = flash_mla.get_mla_metadata(
        problem.cache_seqlens, problem.q_rows_per_kv_head, problem.h_kv
    )
    for scale, causal in ((None, False), (0.05, True)):
        torch.library.opcheck(
            torch.ops.flash_mla.flash_mla_with_kvcache.default,
            (problem.q, problem.k_cache, problem.block_table, problem.cache_seqlens, HEAD_DIM_V,
             metadata, num_splits, scale, causal),
        )


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_compile_fullgraph(problem, backend):
    torch._dynamo.reset()
    args = (problem.q, problem.k_cache, problem.block_table, problem.cache_seqlens)
    expected = decode_step(*args)
    compiled = torch.compile(decode_step, fullgraph=True, backend=backend)
    torch.testing.assert_close(compiled(*args), expected)


def test_compile_dynamic_shapes():
    # With dynamic=True the batch size is symbolic; a second batch size must reuse the graph and
    # still give the eager results.
    torch._dynamo.reset()
    compiled = torch.compile(decode_step, fullgraph=True, backend="aot_eager", dynamic=True)
    for lengths in ([130, 64, 5], [1, 200, 64, 65, 9]):
        p = make_problem(lengths, s_q=2, h_q=16, h_kv=1, dtype=torch.bfloat16, seed=len(lengths))
        args = (p.q, p.k_cache, p.block_table, p.cache_seqlens)
        torch.testing.assert_close(compiled(*args), decode_step(*args))
