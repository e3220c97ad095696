"""The CPU path of flash_mla against the float64 reference of mla_reference.py."""

import pytest

torch = pytest.importorskip("torch", reason="the flash_mla tests need PyTorch")
flash_mla = pytest.importorskip("flash_mla", reason="the flash_mla package is not installed")

from mla_reference import (  # noqa: E402
    HEAD_DIM_K,
    HEAD_DIM_V,
    check_against_reference,
    make_problem,
    reference,
    varlen_lengths,
)

DTYPES = [torch.bfloat16, torch.float16]
EDGE_LENGTHS = [0, 1, 63, 64, 65, 200]


def run(problem, softmax_scale=None, causal=False):
    metadata, num_splits = flash_mla.get_mla_metadata(
        problem.cache_seqlens, problem.q_rows_per_kv_head, problem.h_kv
    )
    return flash_mla.flash_mla_with_kvcache(
        problem.q,
        problem.k_cache,
        problem.block_table,
        problem.cache_seqlens,
        HEAD_DIM_V,
        metadata,
        num_splits,
        softmax_scale=softmax_scale,
        causal=causal,
    )


def check(problem, dtype, softmax_scale=None, causal=False, context=""):
    out, lse = run(problem, softmax_scale=softmax_scale, causal=causal)
    ref_out, ref_lse = reference(
        problem.q,
        problem.k_cache,
        problem.block_table,
        problem.cache_seqlens,
        HEAD_DIM_V,
        softmax_scale=softmax_scale,
        causal=causal,
    )
    assert out.dtype == dtype and lse.dtype == torch.float32
    assert out.is_contiguous() and lse.is_contiguous()
    return check_against_reference(out, lse, ref_out, ref_lse, dtype, context)


@pytest.mark.parametrize("dtype", DTYPES, ids=["bf16", "fp16"])
@pytest.mark.parametrize("h_kv", [1, 2])
@pytest.mark.parametrize("s_q", [1, 2, 3, 8])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_edge_lengths(dtype, h_kv, s_q, causal):
    # Lengths 0, 1, 63, 64, 65 in one batch, with s_q up to 8 (causal rows that see no key too).
    problem = make_problem(EDGE_LENGTHS, s_q=s_q, h_q=16, h_kv=h_kv, dtype=dtype, seed=s_q * 7 + h_kv)
    check(problem, dtype, causal=causal)


@pytest.mark.parametrize("dtype", DTYPES, ids=["bf16", "fp16"])
@pytest.mark.parametrize("varlen", [False, True], ids=["fixed", "varlen"])
@pytest.mark.parametrize("h_q,s_q", [(16, 1), (32, 2), (128, 1), (64, 2)])
def test_batches(dtype, varlen, h_q, s_q):
    b, mean = 5, 300
    lengths = varlen_lengths(b, mean, s_q, seed=h_q) if varlen else [mean] * b
    problem = make_problem(lengths, s_q=s_q, h_q=h_q, h_kv=1, dtype=dtype, seed=b + h_q)
    check(problem, dtype, causal=s_q > 1)


@pytest.mark.parametrize("dtype", DTYPES, ids=["bf16", "fp16"])
def test_one_long_sequence_among_short(dtype):
    problem = make_problem([3, 5000, 70, 1], s_q=2, h_q=16, h_kv=1, dtype=dtype, seed=11)
    check(problem, dtype, causal=True)


def test_lengths_shorter_than_s_q_causal():
    # Causal rows i with L - s_q + i < 0 see no key: out = 0 and lse = +inf.
    problem = make_problem([1, 3, 0, 8], s_q=8, h_q=16, h_kv=1, dtype=torch.bfloat16, seed=5)
    out, lse = run(problem, causal=True)
    assert torch.isposinf(lse[0, :, :7]).all() and torch.isfinite(lse[0, :, 7]).all()
    assert torch.isposinf(lse[2]).all()
    assert (out[2] == 0).all()
    check(problem, torch.bfloat16, causal=True)


@pytest.mark.parametrize("scale", [0.01, 0.5])
def test_softmax_scale(scale):
    problem = make_problem([100, 130], s_q=1, h_q=16, h_kv=1, dtype=torch.bfloat16, seed=3)
    check(problem, torch.bfloat16, softmax_scale=scale)
    default_out, _ = run(problem)
    scaled_out, _ = run(problem, softmax_scale=scale)
    assert not torch.equal(default_out, scaled_out), "softmax_scale had no effect"


def test_default_scale_is_one_over_sqrt_d():
    problem = make_problem([90], s_q=1, h_q=16, h_kv=1, dtype=torch.float16, seed=4)
    out_default, lse_default = run(problem)
    out_explicit, lse_explicit = run(problem, softmax_scale=HEAD_DIM_K**-0.5)
    torch.testing.assert_close(out_default, out_explicit)
    torch.testing.assert_close(lse_default, lse_explicit)


def test_non_contiguous_q_and_k_cache():
    # Only the last dimension must be contiguous: q as a slice of wider rows with s_q and h_q
    # swapped in memory, k_cache as a slice of wider rows with pages interleaved in memory.
    dtype = torch.bfloat16
    problem = make_problem([77, 140, 64], s_q=2, h_q=16, h_kv=2, dtype=dtype, seed=9)
    b, s_q, h_q, d = problem.q.shape
    wide_q = torch.full((b, h_q, s_q, d + 64), float("nan"), dtype=dtype)
    wide_q[..., :d] = problem.q.transpose(1, 2)
    q = wide_q.transpose(1, 2)[..., :d]
    nb, page, h_kv, _ = problem.k_cache.shape
    wide_k = torch.full((page, nb, h_kv, d + 32), float("nan"), dtype=dtype)
    wide_k[..., :d] = problem.k_cache.transpose(0, 1)
    k_cache = wide_k.transpose(0, 1)[..., :d]
    assert not q.is_contiguous() and not k_cache.is_contiguous()
    torch.testing.assert_close(q, problem.q, equal_nan=True)
    torch.testing.assert_close(k_cache, problem.k_cache, equal_nan=True)

    expected_out, expected_lse = run(problem, causal=True)
    problem.q, problem.k_cache = q, k_cache
    out, lse = run(problem, causal=True)
    assert out.is_contiguous() and lse.is_contiguous()
    torch.testing.assert_close(out, expected_out)
    torch.testing.assert_close(lse, expected_lse)


def test_non_contiguous_block_table_rows():
    # block_table may have a row stride larger than its width.
    problem = make_problem([100, 30], s_q=1, h_q=16, h_kv=1, dtype=torch.bfloat16, seed=12)
    expected_out, expected_lse = run(problem)
    b, width = problem.block_table.shape
    wide = torch.full((b, width + 5), -1, dtype=torch.int32)
    wide[:, :width] = problem.block_table
    problem.block_table = wide[:, :width]
    out, lse = run(problem)
    torch.testing.assert_close(out, expected_out)
    torch.testing.assert_close(lse, expected_lse)


def test_unused_block_table_entries_are_not_read():
    problem = make_problem([64, 10], s_q=1, h_q=16, h_kv=1, dtype=torch.bfloat16, seed=13,
                           extra_table_columns=3)
    expected_out, expected_lse = run(problem)
    problem.block_table[0, 1:] = 10**9  # far outside k_cache
    problem.block_table[1, 1:] = -7
    out, lse = run(problem)
    torch.testing.assert_close(out, expected_out)
    torch.testing.assert_close(lse, expected_lse)


@pytest.mark.parametrize("threads", [1, 3, 16])
def test_any_part_count_gives_the_reference(cpu_threads, threads):
    cpu_threads(threads)
    problem = make_problem([700, 5, 300, 64], s_q=2, h_q=16, h_kv=1, dtype=torch.bfloat16, seed=21)
    metadata, num_splits = flash_mla.get_mla_metadata(
        problem.cache_seqlens, problem.q_rows_per_kv_head, problem.h_kv
    )
    assert metadata.shape == (threads, 8)
    check(problem, torch.bfloat16, causal=True, context=f"threads={threads}")


def test_metadata_shapes_and_prefix_sums(cpu_threads):
    cpu_threads(4)
    lengths = [640, 0, 64, 1, 3000]
    seqlens = torch.tensor(lengths, dtype=torch.int32)
    metadata, num_splits = flash_mla.get_mla_metadata(seqlens, 2 * 16, 1)
    assert metadata.dtype == torch.int32 and num_splits.dtype == torch.int32
    assert metadata.shape == (4, 8) and num_splits.shape == (len(lengths) + 1,)
    assert metadata.device == seqlens.device and num_splits.device == seqlens.device
    assert num_splits[0] == 0
    splits = num_splits.diff()
    assert (splits >= 1).all()
    # The long sequence is cut in several splits when the work is spread over 4 parts.
    assert splits[4] > 1
    # The plan is stamped with the shape it was made for: b, rows per kv head, h_kv.
    assert (metadata[:, 5] == len(lengths)).all()
    assert (metadata[:, 6] == 32).all()
    assert (metadata[:, 7] == 1).all()


def test_results_are_deterministic():
    problem = make_problem([300, 129], s_q=2, h_q=32, h_kv=1, dtype=torch.bfloat16, seed=31)
    first = run(problem, causal=True)
    second = run(problem, causal=True)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_public_api_surface():
    assert flash_mla.__version__ == flash_mla.library_version()
    assert isinstance(flash_mla.has_cuda(), bool)
    assert hasattr(torch.ops.flash_mla, "get_mla_metadata")
    assert hasattr(torch.ops.flash_mla, "flash_mla_with_kvcache")
    assert flash_mla.get_mla_metadata.__doc__ and flash_mla.flash_mla_with_kvcache.__doc__
