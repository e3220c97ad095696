"""Every invalid call raises (ValueError for bad arguments and bad input data, RuntimeError for an
unsupported device) with the library's message naming the argument."""

import ctypes
import math

import pytest

torch = pytest.importorskip("torch", reason="the flash_mla tests need PyTorch")
flash_mla = pytest.importorskip("flash_mla", reason="the flash_mla package is not installed")

from flash_mla import _lib, _ops  # noqa: E402
from mla_reference import HEAD_DIM_V, make_problem  # noqa: E402


@pytest.fixture
def problem():
    return make_problem([100, 64, 1], s_q=2, h_q=16, h_kv=1, dtype=torch.bfloat16, seed=1)


def plan(p, q_rows=None, h_kv=None):
    return flash_mla.get_mla_metadata(
        p.cache_seqlens,
        p.q_rows_per_kv_head if q_rows is None else q_rows,
        p.h_kv if h_kv is None else h_kv,
    )


def decode(p, metadata=None, num_splits=None, head_dim_v=HEAD_DIM_V, **overrides):
    if metadata is None:
        metadata, num_splits = plan(p)
    args = dict(
        q=p.q,
        k_cache=p.k_cache,
        block_table=p.block_table,
        cache_seqlens=p.cache_seqlens,
        head_dim_v=head_dim_v,
        tile_scheduler_metadata=metadata,
        num_splits=num_splits,
    )
    args.update(overrides)
    return flash_mla.flash_mla_with_kvcache(**args)


def strided(t, dim=-1):
    """The same values with a stride of 2 along `dim` (a view into a tensor twice as long)."""
    shape = list(t.shape)
    shape[dim] *= 2
    wide = torch.zeros(shape, dtype=t.dtype)
    index = [slice(None)] * t.dim()
    index[dim] = slice(None, None, 2)
    view = wide[tuple(index)]
    view.copy_(t)
    return view


# --------------------------------------------------------------------------------------------
# flash_mla_with_kvcache: arguments
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,make,pattern",
    [
        ("q", lambda p: p.q.float(), r"q: expected dtype bfloat16 or float16, got float32"),
        ("q", lambda p: p.q.double(), r"q: expected dtype .*, got torch\.float64"),
        ("k_cache", lambda p: p.k_cache.half(), r"k_cache: expected dtype bfloat16 \(the dtype of q\)"),
        ("block_table", lambda p: p.block_table.long(), r"block_table: expected dtype torch\.int32"),
        ("cache_seqlens", lambda p: p.cache_seqlens.long(), r"cache_seqlens: expected dtype torch\.int32"),
        ("block_table", lambda p: p.block_table.float(), r"block_table: expected dtype int32"),
    ],
)
def test_wrong_dtype(problem, name, make, pattern):
    with pytest.raises(ValueError, match=pattern):
        decode(problem, **{name: make(problem)})


@pytest.mark.parametrize(
    "name,make,pattern",
    [
        ("q", lambda p: p.q[..., :512], r"q: expected shape \[b, s_q, h_q, 576\], got \[3, 2, 16, 512\]"),
        ("q", lambda p: p.q[0], r"q: expected 4 dimensions"),
        ("q", lambda p: p.q[None], r"q: expected at most 4 dimensions"),
        ("q", lambda p: p.q.repeat(1, 5, 1, 1), r"q: expected s_q \(dimension 1\) in \[1, 8\], got 10"),
        ("q", lambda p: p.q.repeat(1, 1, 16, 1), r"q: expected h_q \(dimension 2\) in \[1, 128\], got 256"),
        ("k_cache", lambda p: p.k_cache[:, :32], r"k_cache: .*page size 32 is not supported"),
        ("k_cache", lambda p: p.k_cache[..., :575], r"k_cache: expected shape"),
        ("k_cache", lambda p: p.k_cache.repeat(1, 1, 3, 1), r"h_q \(16\) must be a multiple of h_kv \(3\)"),
        ("block_table", lambda p: p.block_table[:2], r"block_table: expected shape \[b, max_blocks_per_seq\] = \[3, max_blocks_per_seq\], got \[2, 3\]"),
        ("cache_seqlens", lambda p: p.cache_seqlens[:2], r"cache_seqlens: expected shape"),
        ("cache_seqlens", lambda p: p.cache_seqlens[None], r"cache_seqlens: expected 1 dimensions"),
    ],
)
def test_wrong_shape(problem, name, make, pattern):
    with pytest.raises(ValueError, match=pattern):
        decode(problem, **{name: make(problem)})


def test_wrong_head_dim_v(problem):
    with pytest.raises(ValueError, match=r"head_dim_v: expected 512, got 576"):
        decode(problem, head_dim_v=576)
    with pytest.raises(ValueError, match=r"head_dim_v: expected an int, got float"):
        decode(problem, head_dim_v=512.0)
    with pytest.raises(ValueError, match=r"head_dim_v: expected a value that fits in int32"):
        decode(problem, head_dim_v=2**33)


@pytest.mark.parametrize("scale", [-1.0, 0.0, math.inf, math.nan])
def test_wrong_softmax_scale(problem, scale):
    with pytest.raises(ValueError, match=r"softmax_scale: expected a finite value > 0"):
        decode(problem, softmax_scale=scale)


@pytest.mark.parametrize(
    "name,make,pattern",
    [
        ("q", lambda p: strided(p.q), r"q: expected stride 1 in the last dimension, got 2"),
        ("k_cache", lambda p: strided(p.k_cache), r"k_cache: expected stride 1 in the last dimension"),
        ("block_table", lambda p: strided(p.block_table), r"block_table: expected stride 1 in the last"),
        ("cache_seqlens", lambda p: strided(p.cache_seqlens), r"cache_seqlens: expected contiguous strides"),
    ],
)
def test_non_contiguous_where_required(problem, name, make, pattern):
    with pytest.raises(ValueError, match=pattern):
        decode(problem, **{name: make(problem)})


def test_mixed_meta_and_cpu_tensors(problem):
    with pytest.raises(ValueError, match=r"k_cache: expected device meta \(the device of q\), got cpu"):
        decode(problem, q=problem.q.to("meta"))


def test_all_meta_tensors_give_output_shapes(problem):
    # The meta device runs the fake implementation: shapes only, as torch.compile sees them.
    metadata, num_splits = plan(problem)
    meta = {name: getattr(problem, name).to("meta")
            for name in ("q", "k_cache", "block_table", "cache_seqlens")}
    out, lse = decode(problem, metadata.to("meta"), num_splits.to("meta"), **meta)
    assert out.device.type == "meta" and out.shape == (3, 2, 16, 512) and out.dtype == torch.bfloat16
    assert lse.shape == (3, 16, 2) and lse.dtype == torch.float32


def test_unsupported_device_type_in_the_real_call(problem):
    with pytest.raises(RuntimeError, match=r"q: tensors on meta are not supported"):
        _ops._describe(problem.q.to("meta"), "q", "", "test")


@pytest.mark.parametrize(
    "name,value,pattern",
    [
        ("q", [1.0], r"q: expected a torch.Tensor, got list"),
        ("cache_seqlens", None, r"cache_seqlens: expected a torch.Tensor, got NoneType"),
        ("softmax_scale", "0.1", r"softmax_scale: expected a float or None, got str"),
        ("causal", None, r"causal: expected a bool, got NoneType"),
    ],
)
def test_wrong_python_types(problem, name, value, pattern):
    with pytest.raises(ValueError, match=pattern):
        decode(problem, **{name: value})


# --------------------------------------------------------------------------------------------
# flash_mla_with_kvcache: input data (checked on the CPU)
# --------------------------------------------------------------------------------------------


def test_length_past_the_block_table(problem):
    lens = problem.cache_seqlens.clone()
    metadata, num_splits = plan(problem)
    lens[1] = 64 * problem.block_table.shape[1] + 1
    with pytest.raises(ValueError, match=r"cache_seqlens\[1\] = .* exceeds the block table's capacity"):
        decode(problem, metadata, num_splits, cache_seqlens=lens)


def test_negative_length(problem):
    metadata, num_splits = plan(problem)
    lens = problem.cache_seqlens.clone()
    lens[2] = -1
    with pytest.raises(ValueError, match=r"cache_seqlens\[2\] = -1: expected a length >= 0"):
        decode(problem, metadata, num_splits, cache_seqlens=lens)


@pytest.mark.parametrize("bad_page", [-1, 10**6])
def test_page_out_of_range(problem, bad_page):
    table = problem.block_table.clone()
    table[0, 1] = bad_page
    with pytest.raises(ValueError, match=rf"block_table\[0\]\[1\] = {bad_page}: expected a page of k_cache"):
        decode(problem, block_table=table)


# --------------------------------------------------------------------------------------------
# flash_mla_with_kvcache: metadata of another shape
# --------------------------------------------------------------------------------------------


def test_metadata_for_another_batch(problem):
    other = make_problem([100, 64], s_q=2, h_q=16, h_kv=1, dtype=torch.bfloat16, seed=2)
    metadata, num_splits = plan(other)
    with pytest.raises(ValueError, match=r"num_splits: expected shape \[b \+ 1\] = \[4\], got \[3\]"):
        decode(problem, metadata, num_splits)


def test_metadata_for_another_head_count(problem):
    metadata, num_splits = plan(problem, q_rows=problem.q_rows_per_kv_head * 2)
    with pytest.raises(ValueError, match=r"expected a plan for b = 3, q_rows_per_kv_head = 32"):
        decode(problem, metadata, num_splits)


def test_metadata_for_other_lengths(problem, cpu_threads):
    cpu_threads(4)
    short = problem.cache_seqlens.clone()
    short[:] = 1
    metadata, num_splits = flash_mla.get_mla_metadata(short, problem.q_rows_per_kv_head, 1)
    with pytest.raises(ValueError, match=r"was it made for these cache_seqlens\?"):
        decode(problem, metadata, num_splits)


def test_metadata_wrong_width(problem):
    metadata, num_splits = plan(problem)
    with pytest.raises(ValueError, match=r"tile_scheduler_metadata: expected shape"):
        decode(problem, metadata[:, :7], num_splits)


def test_metadata_wrong_dtype(problem):
    metadata, num_splits = plan(problem)
    with pytest.raises(ValueError, match=r"tile_scheduler_metadata: expected dtype torch\.int32"):
        decode(problem, metadata.long(), num_splits)


def test_tampered_num_splits(problem):
    metadata, num_splits = plan(problem)
    num_splits = num_splits.clone()
    num_splits[0] = 1
    with pytest.raises(ValueError, match=r"num_splits\[0\] = 1: expected 0"):
        decode(problem, metadata, num_splits)


# --------------------------------------------------------------------------------------------
# get_mla_metadata
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seqlens,rows,h_kv,pattern",
    [
        (torch.tensor([5, 6]), 16, 1, r"cache_seqlens: expected dtype torch\.int32, got torch\.int64"),
        (torch.tensor([[5, 6]], dtype=torch.int32), 16, 1, r"cache_seqlens: expected 1 dimensions"),
        (torch.tensor([5, 6, 7, 8], dtype=torch.int32)[::2], 16, 1, r"cache_seqlens: expected contiguous"),
        (torch.zeros(0, dtype=torch.int32), 16, 1, r"cache_seqlens: expected batch size b in \[1, "),
        (torch.tensor([5, -3], dtype=torch.int32), 16, 1, r"cache_seqlens\[1\] = -3"),
        (torch.tensor([5], dtype=torch.int32), 0, 1, r"q_rows_per_kv_head: expected a value"),
        (torch.tensor([5], dtype=torch.int32), 16, 0, r"h_kv: expected a value in \[1, 128\], got 0"),
        (torch.tensor([5], dtype=torch.int32), 2**40, 1, r"num_heads_per_head_k: expected a value that fits in int32"),
        (torch.tensor([5], dtype=torch.int32), 16, 1.5, r"num_heads_k: expected an int, got float"),
        ([5], 16, 1, r"cache_seqlens: expected a torch.Tensor, got list"),
        (torch.tensor([5], dtype=torch.int32), 1024, 2, r"q_rows_per_kv_head \* h_kv \(= s_q \* h_q\): expected at most 1024"),
    ],
)
def test_metadata_errors(seqlens, rows, h_kv, pattern):
    with pytest.raises(ValueError, match=pattern):
        flash_mla.get_mla_metadata(seqlens, rows, h_kv)


# --------------------------------------------------------------------------------------------
# The C API itself
# --------------------------------------------------------------------------------------------


def c_decode_args(p, out, lse, metadata, num_splits, head_dim_v=HEAD_DIM_V):
    what = "test"
    args = _lib.DecodeArgs()
    args.q = _ops._describe(p.q, "q", "", what)
    args.k_cache = _ops._describe(p.k_cache, "k_cache", "", what)
    args.block_table = _ops._describe(p.block_table, "block_table", "", what)
    args.cache_seqlens = _ops._describe(p.cache_seqlens, "cache_seqlens", "", what)
    args.tile_scheduler_metadata = _ops._describe(metadata, "m", "", what)
    args.num_splits = _ops._describe(num_splits, "n", "", what)
    args.out = _ops._describe(out, "out", "", what)
    args.lse = _ops._describe(lse, "lse", "", what)
    args.head_dim_v = head_dim_v
    return args


def c_decode(args, err_len=1024):
    err = ctypes.create_string_buffer(max(err_len, 1))
    status = _lib.load().flashmla_mla_decode_with_kvcache(ctypes.byref(args), err, err_len)
    return status, err.value.decode()


def poisoned_outputs(p):
    b, s_q, h_q, _ = p.q.shape
    out = torch.full((b, s_q, h_q, HEAD_DIM_V), float("nan"), dtype=p.q.dtype)
    lse = torch.full((b, h_q, s_q), float("nan"), dtype=torch.float32)
    return out, lse


def test_c_api_writes_nothing_on_error(problem):
    metadata, num_splits = plan(problem)
    out, lse = poisoned_outputs(problem)
    table = problem.block_table.clone()
    table[1, 0] = -5  # only found after every shape check passed
    problem.block_table = table
    status, message = c_decode(c_decode_args(problem, out, lse, metadata, num_splits))
    assert status == _lib.INVALID_INPUT_DATA
    assert "block_table[1][0] = -5" in message
    assert torch.isnan(out).all() and torch.isnan(lse).all()


def test_c_api_success_clears_message_and_writes_outputs(problem):
    metadata, num_splits = plan(problem)
    out, lse = poisoned_outputs(problem)
    err = ctypes.create_string_buffer(b"stale", 64)
    args = c_decode_args(problem, out, lse, metadata, num_splits)
    status = _lib.load().flashmla_mla_decode_with_kvcache(ctypes.byref(args), err, 64)
    assert status == _lib.OK and err.value == b""
    assert not torch.isnan(out).any() and not torch.isnan(lse).any()


def test_c_api_truncates_long_messages(problem):
    metadata, num_splits = plan(problem)
    out, lse = poisoned_outputs(problem)
    args = c_decode_args(problem, out, lse, metadata, num_splits, head_dim_v=7)
    status, full = c_decode(args)
    assert status == _lib.INVALID_ARGUMENT and full.startswith("head_dim_v: expected 512, got 7")
    status, cut = c_decode(args, err_len=8)
    assert status == _lib.INVALID_ARGUMENT and cut == full[:7]
    # No buffer at all is allowed.
    assert _lib.load().flashmla_mla_decode_with_kvcache(ctypes.byref(args), None, 0) == status


def test_c_api_null_args():
    err = ctypes.create_string_buffer(256)
    status = _lib.load().flashmla_mla_decode_with_kvcache(None, err, 256)
    assert status == _lib.INVALID_ARGUMENT and b"args" in err.value
    status = _lib.load().flashmla_get_mla_metadata(None, err, 256)
    assert status == _lib.INVALID_ARGUMENT and b"args" in err.value


def test_c_api_rejects_unknown_codes(problem):
    metadata, num_splits = plan(problem)
    out, lse = poisoned_outputs(problem)
    args = c_decode_args(problem, out, lse, metadata, num_splits)
    args.q.dtype = 9
    status, message = c_decode(args)
    assert status == _lib.INVALID_ARGUMENT and message.startswith("q: expected a dtype code")
    args = c_decode_args(problem, out, lse, metadata, num_splits)
    args.k_cache.device_type = 7
    status, message = c_decode(args)
    assert status == _lib.INVALID_ARGUMENT and message.startswith("k_cache: expected device type")
    args = c_decode_args(problem, out, lse, metadata, num_splits)
    args.lse.ndim = 5
    status, message = c_decode(args)
    assert status == _lib.INVALID_ARGUMENT and message.startswith("lse: expected 0..4 dimensions")


def test_c_api_device_mismatch(problem):
    # A tensor that claims to live on a GPU while q is on the CPU: rejected by validation before
    # anything is read, whether or not this build has the CUDA backend.
    metadata, num_splits = plan(problem)
    out, lse = poisoned_outputs(problem)
    args = c_decode_args(problem, out, lse, metadata, num_splits)
    args.k_cache.device_type = _lib.DEVICE_CUDA
    status, message = c_decode(args)
    assert status == _lib.INVALID_ARGUMENT
    assert "k_cache: expected device cpu (the device of q), got cuda:0" in message
    assert torch.isnan(out).all()


@pytest.mark.skipif(flash_mla.has_cuda(), reason="this build has the CUDA backend")
def test_c_api_cuda_tensors_without_cuda_backend(problem):
    metadata, num_splits = plan(problem)
    out, lse = poisoned_outputs(problem)
    args = c_decode_args(problem, out, lse, metadata, num_splits)
    for t in (args.q, args.k_cache, args.block_table, args.cache_seqlens,
              args.tile_scheduler_metadata, args.num_splits, args.out, args.lse):
        t.device_type = _lib.DEVICE_CUDA
    status, message = c_decode(args)
    assert status == _lib.UNSUPPORTED_DEVICE and "no CUDA backend" in message
    with pytest.raises(RuntimeError, match=r"unsupported device: .*no CUDA backend"):
        _lib.raise_for_status(status, message, "test")


def test_c_api_helpers():
    lib = _lib.load()
    assert lib.flashmla_c_abi_version() == _lib.ABI_VERSION
    assert lib.flashmla_status_name(_lib.INVALID_ARGUMENT) == b"invalid argument"
    assert lib.flashmla_status_name(99) == b"unknown status"
    # sm_count / h_kv / ceil(rows / 64), at least 1.
    assert _lib.num_sm_parts_for_sm_count(132, 16, 1) == 132
    assert _lib.num_sm_parts_for_sm_count(132, 128, 1) == 66
    assert _lib.num_sm_parts_for_sm_count(132, 65, 2) == 33
    assert _lib.num_sm_parts_for_sm_count(1, 1024, 1) == 1
    assert _lib.cpu_num_sm_parts() >= 1
    assert _lib.get_num_sm_parts(_lib.DEVICE_CPU, 0, 16, 1, "t") == _lib.cpu_num_sm_parts()
    with pytest.raises(ValueError, match=r"device: expected device type"):
        _lib.get_num_sm_parts(5, 0, 16, 1, "t")
    small = _lib.decode_workspace_size(1, 1, 16, 1)
    assert small > 0 and _lib.decode_workspace_size(2, 1, 16, 1) > small
    assert _lib.decode_workspace_size(-1, 1, 16, 1) == 0
