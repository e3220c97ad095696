#!/usr/bin/env python3
"""flash_mla (the PyTorch package) against a straightforward PyTorch implementation of MLA decoding.

The naive version gathers every sequence's pages into a padded [b, max_len, h_kv, 576] tensor, then
runs two batched matmuls with a masked float32 softmax between them: what a model would do without
a dedicated kernel. Both are timed on the same inputs (pages a random permutation of the cache).

On CUDA each configuration is timed with CUDA events around every call, median of --iters calls
after --warmup calls; on the CPU with a wall clock. The default is the DESIGN.md b = 128 grid on
CUDA, and one tiny shape on the CPU. Byte and FLOP counts follow DESIGN.md section 6:
  bytes = (total_kv_tokens * h_kv * 576 + b * s_q * h_q * (576 + 512)) * elem_size
  flops = 2 * s_q * h_q * total_kv_tokens * (576 + 512)

Output: CSV on stdout (and --csv FILE) with the columns
  commit,gpu,dtype,b,s_q,s_k,h_q,h_kv,varlen,time_us,tflops,gbs,naive_us,speedup,rel_err
where rel_err is ||out - naive_out|| / ||naive_out|| (a sanity check, not the accuracy test).

Examples:
  python3 bench/bench_python.py                       # full grid on the GPU
  python3 bench/bench_python.py --s-k 8192 --h-q 128 --s-q 1 --varlen fixed
  python3 bench/bench_python.py --device cpu          # tiny CPU shape
"""

import argparse
import math
import re
import statistics
import subprocess
import sys
import time

import torch

import flash_mla

HEAD_DIM_K = 576
HEAD_DIM_V = 512
PAGE_SIZE = 64
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
COLUMNS = (
    "commit,gpu,dtype,b,s_q,s_k,h_q,h_kv,varlen,time_us,tflops,gbs,naive_us,speedup,rel_err"
)


def parse_args(argv):
    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda" if cuda else "cpu")
    parser.add_argument("--dtype", nargs="+", choices=sorted(DTYPES), default=["bf16"])
    parser.add_argument("--b", type=int, nargs="+", help="batch sizes (default 128; CPU: 2)")
    parser.add_argument("--s-k", type=int, nargs="+", help="mean cache lengths "
                        "(default 4096 8192 16384; CPU: 256)")
    parser.add_argument("--h-q", type=int, nargs="+", help="query heads (default 16 32 64 128; "
                        "CPU: 16)")
    parser.add_argument("--s-q", type=int, nargs="+", help="query tokens (default 1 2; CPU: 1)")
    parser.add_argument("--h-kv", type=int, default=1)
    parser.add_argument("--varlen", choices=["fixed", "varlen", "both"],
                        help="lengths all s_k, normal around s_k (sd s_k/4, at least s_q), or both "
                        "(default both; CPU: fixed)")
    parser.add_argument("--causal", action=argparse.BooleanOptionalAction, default=True,
                        help="speculative-decoding mask for s_q > 1 (default on)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--no-naive", action="store_true", help="skip the naive PyTorch version")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", help="also write the table to this file")
    parser.add_argument("--commit", help="commit id for the table (default: git rev-parse, which "
                        "a copy of the tree without .git lacks)")
    args = parser.parse_args(argv)
    on_cpu = args.device == "cpu"
    if args.b is None:
        args.b = [2] if on_cpu else [128]
    if args.s_k is None:
        args.s_k = [256] if on_cpu else [4096, 8192, 16384]
    if args.h_q is None:
        args.h_q = [16] if on_cpu else [16, 32, 64, 128]
    if args.s_q is None:
        args.s_q = [1] if on_cpu else [1, 2]
    if args.varlen is None:
        args.varlen = "fixed" if on_cpu else "both"
    if args.device == "cuda" and not cuda:
        parser.error("--device cuda: torch sees no CUDA device")
    return args


def commit_id():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def short_device_name(device):
    """'h100' for 'NVIDIA H100 80GB HBM3' (as the C++ benchmark names result files), 'cpu'."""
    if device.type != "cuda":
        return "cpu"
    for word in torch.cuda.get_device_name(device).split():
        if word in ("NVIDIA", "Tesla"):
            continue
        name = re.sub(r"[^0-9a-z]", "", word.lower())
        if name:
            return name
    return "gpu"


def make_lengths(b, s_k, s_q, varlen, gen):
    if not varlen:
        return [s_k] * b
    noise = torch.randn(b, generator=gen).tolist()
    return [max(s_q, round(s_k + s_k / 4 * z)) for z in noise]


def make_inputs(b, s_q, s_k, h_q, h_kv, varlen, dtype, device, seed):
    gen = torch.Generator().manual_seed(seed)
    lengths = make_lengths(b, s_k, s_q, varlen, gen)
    pages = [(n + PAGE_SIZE - 1) // PAGE_SIZE for n in lengths]
    max_pages = max(pages)
    num_blocks = sum(pages)
    order = torch.randperm(num_blocks, generator=gen)
    table = torch.zeros((b, max_pages), dtype=torch.int32)
    start = 0
    for i, n in enumerate(pages):
        table[i, :n] = order[start:start + n]
        start += n
    dev_gen = torch.Generator(device=device).manual_seed(seed)
    q = torch.randn((b, s_q, h_q, HEAD_DIM_K), generator=dev_gen, device=device, dtype=dtype)
    k_cache = torch.randn((num_blocks, PAGE_SIZE, h_kv, HEAD_DIM_K), generator=dev_gen,
                          device=device, dtype=dtype)
    seqlens = torch.tensor(lengths, dtype=torch.int32, device=device)
    return q, k_cache, table.to(device), seqlens


def naive_mla(q, k_cache, block_table, cache_seqlens, causal):
    """Gather pages, scores = Q K^T, masked float32 softmax, out = P V. Returns (out, lse)."""
    b, s_q, h_q, d = q.shape
    h_kv = k_cache.shape[2]
    group = h_q // h_kv
    max_len = block_table.shape[1] * PAGE_SIZE
    keys = k_cache[block_table.long()].reshape(b, max_len, h_kv, d).transpose(1, 2)
    rows = q.reshape(b, s_q, h_kv, group, d).permute(0, 2, 1, 3, 4).reshape(b, h_kv, s_q * group, d)
    scale = 1.0 / math.sqrt(d)
    scores = torch.matmul(rows, keys.transpose(-1, -2)).float() * scale  # [b, h_kv, rows, max_len]
    t = torch.arange(max_len, device=q.device)
    limit = cache_seqlens.long()[:, None]  # keys t < limit are visible
    if causal:
        limit = limit - s_q + 1 + torch.arange(s_q, device=q.device)[None, :]
    else:
        limit = limit.expand(b, s_q)
    visible = t[None, None, :] < limit[:, :, None]  # [b, s_q, max_len]
    visible = visible[:, None, :, None, :].expand(b, h_kv, s_q, group, max_len)
    scores = scores.masked_fill(~visible.reshape(b, h_kv, s_q * group, max_len), float("-inf"))
    lse = torch.logsumexp(scores, dim=-1)
    probs = torch.softmax(scores, dim=-1).to(q.dtype)
    out = torch.matmul(probs, keys[..., :HEAD_DIM_V])  # [b, h_kv, rows, dv]
    out = out.reshape(b, h_kv, s_q, group, HEAD_DIM_V).permute(0, 2, 1, 3, 4)
    lse = lse.reshape(b, h_kv, s_q, group).permute(0, 1, 3, 2).reshape(b, h_q, s_q)
    return out.reshape(b, s_q, h_q, HEAD_DIM_V), lse


def time_us(fn, device, warmup, iters):
    """Median time of one call in microseconds."""
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        pairs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                 for _ in range(iters)]
        for start, end in pairs:
            start.record()
            fn()
            end.record()
        torch.cuda.synchronize(device)
        return statistics.median(s.elapsed_time(e) for s, e in pairs) * 1e3
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def bench_one(args, device, dtype_name, b, s_q, s_k, h_q, varlen):
    dtype = DTYPES[dtype_name]
    h_kv = args.h_kv
    q, k_cache, block_table, seqlens = make_inputs(b, s_q, s_k, h_q, h_kv, varlen, dtype, device,
                                                   args.seed)
    causal = args.causal and s_q > 1
    metadata, num_splits = flash_mla.get_mla_metadata(seqlens, s_q * h_q // h_kv, h_kv)

    def ours():
        return flash_mla.flash_mla_with_kvcache(q, k_cache, block_table, seqlens, HEAD_DIM_V,
                                                metadata, num_splits, causal=causal)

    ours_us = time_us(ours, device, args.warmup, args.iters)
    total_tokens = int(seqlens.sum().item())
    elem = torch.finfo(dtype).bits // 8
    nbytes = (total_tokens * h_kv * HEAD_DIM_K + b * s_q * h_q * (HEAD_DIM_K + HEAD_DIM_V)) * elem
    flops = 2 * s_q * h_q * total_tokens * (HEAD_DIM_K + HEAD_DIM_V)

    naive_us = speedup = rel_err = ""
    if not args.no_naive:
        def naive():
            return naive_mla(q, k_cache, block_table, seqlens, causal)

        try:
            naive_time = time_us(naive, device, min(args.warmup, 2), max(3, args.iters // 3))
            out, _ = ours()
            ref, _ = naive()
            err = (out.float() - ref.float()).norm() / ref.float().norm()
            naive_us = f"{naive_time:.1f}"
            speedup = f"{naive_time / ours_us:.2f}"
            rel_err = f"{err.item():.2e}"
        except torch.OutOfMemoryError:
            naive_us = "oom"
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return [
        args.commit, args.gpu, dtype_name, b, s_q, s_k, h_q, h_kv, int(varlen),
        f"{ours_us:.1f}", f"{flops / ours_us / 1e6:.1f}", f"{nbytes / ours_us / 1e3:.1f}",
        naive_us, speedup, rel_err,
    ]


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    device = torch.device(args.device)
    args.commit = args.commit or commit_id()
    args.gpu = short_device_name(device)
    varlens = {"fixed": [False], "varlen": [True], "both": [False, True]}[args.varlen]
    lines = [COLUMNS]
    print(COLUMNS, flush=True)
    for dtype_name in args.dtype:
        for b in args.b:
            for s_k in args.s_k:
                for h_q in args.h_q:
                    for s_q in args.s_q:
                        for varlen in varlens:
                            row = bench_one(args, device, dtype_name, b, s_q, s_k, h_q, varlen)
                            line = ",".join(str(x) for x in row)
                            lines.append(line)
                            print(line, flush=True)
    if args.csv:
        with open(args.csv, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
