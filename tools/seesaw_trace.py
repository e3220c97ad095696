#!/usr/bin/env python3
"""Summarises a seesaw-kernel timeline written by a trace build (tools/seesaw_trace.sh).

    python3 tools/seesaw_trace.py TRACE.bin [--clock-ghz 1.755]

For each traced block and role it prints where the time went: every transition between two
consecutive events of a role (e.g. "s_issue -> s_first_slab" is the wait for a page's first slab)
with its count, total share of the role's time and mean in nanoseconds; then the load latency,
from the producer issuing a page's slabs to its owner seeing the first one land.
"""
import argparse
import struct
from collections import defaultdict

# Must match src/sm90/seesaw_trace.cuh.
BLOCKS, ROLES, CAPACITY = 8, 3, 4096
ROW_BLOCKS = 2
NAMES = {
    0: "stats_wait", 1: "stats_ready", 2: "s_wait", 3: "s_ready", 4: "published",
    5: "other_pv_issue", 6: "other_pv_done", 7: "own_pv_issue", 8: "own_pv_done",
    9: "s_issue", 10: "s_first_slab", 11: "s_issued", 12: "piece_begin", 13: "q_ready",
    14: "epilogue", 15: "epilogue_done", 20: "load_begin", 21: "buffer_free", 22: "load_issued",
}
ROLE_NAMES = ["math wg0", "math wg1", "producer"]


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    counts = struct.unpack_from(f"<{BLOCKS * ROLES}I", data, 0)
    raw = struct.unpack_from(f"<{BLOCKS * ROLES * CAPACITY}Q", data, 4 * BLOCKS * ROLES)
    trace = {}
    for b in range(BLOCKS):
        for r in range(ROLES):
            n = counts[b * ROLES + r]
            base = (b * ROLES + r) * CAPACITY
            trace[b, r] = [((v >> 56) & 0xFF, (v >> 40) & 0xFFFF, v & 0xFFFFFFFFFF)
                           for v in raw[base:base + n]]
    return trace


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--clock-ghz", type=float, default=1.755,
                    help="SM clock used to turn cycles into ns (default 1.755)")
    args = ap.parse_args()
    trace = read(args.trace)
    ns = 1.0 / args.clock_ghz
    for b in range(BLOCKS):
        if not any(trace[b, r] for r in range(ROLES)):
            continue
        part, row_block = divmod(b, ROW_BLOCKS)
        events = [e for r in range(ROLES) for e in trace[b, r]]
        t0 = min(e[2] for e in events)
        t1 = max(e[2] for e in events)
        pages = max((e[1] for e in trace[b, 2]), default=-1) + 1
        print(f"== block part {part} row block {row_block}: {pages} pages, "
              f"{(t1 - t0) * ns / 1000:.1f} us, {(t1 - t0) * ns / max(pages, 1):.0f} ns per page")
        for r in range(ROLES):
            ev = trace[b, r]
            if len(ev) < 2:
                continue
            span = ev[-1][2] - ev[0][2]
            agg = defaultdict(lambda: [0, 0])
            for (e0, _, c0), (e1, _, c1) in zip(ev, ev[1:]):
                a = agg[NAMES.get(e0, e0), NAMES.get(e1, e1)]
                a[0] += 1
                a[1] += c1 - c0
            print(f"  {ROLE_NAMES[r]}: {len(ev)} events over {span * ns / 1000:.1f} us")
            for (n0, n1), (cnt, tot) in sorted(agg.items(), key=lambda x: -x[1][1])[:12]:
                print(f"    {n0:>15s} -> {n1:<15s} x{cnt:<5d} {100 * tot / span:5.1f}%  "
                      f"mean {tot / cnt * ns:7.0f} ns")
        # Load latency: producer issued page g's slabs -> its owner saw the first slab land.
        issued = {g: c for e, g, c in trace[b, 2] if e == 22}
        freed = {g: c for e, g, c in trace[b, 2] if e == 21}
        landed = {}
        for r in range(2):
            for e, g, c in trace[b, r]:
                if e == 10:
                    landed[g] = c
        lat = [landed[g] - issued[g] for g in landed if g in issued and landed[g] > issued[g]]
        if lat:
            lat.sort()
            print(f"  load: issue -> first slab seen by S: median {lat[len(lat) // 2] * ns:.0f} ns, "
                  f"p10 {lat[len(lat) // 10] * ns:.0f}, p90 {lat[9 * len(lat) // 10] * ns:.0f} "
                  f"over {len(lat)} pages")
        gaps = [issued[g] - freed[g] for g in issued if g in freed]
        if gaps:
            gaps.sort()
            print(f"  producer: buffer free -> all 9 slabs issued: median {gaps[len(gaps) // 2] * ns:.0f} ns")


if __name__ == "__main__":
    main()
