"""Benchmark: compactness (Polsby-Popper) of the grids, household CV and time.

    .venv/bin/python scripts/bench/bench_compactness.py [--only county helsinki lattice]

Three seeded inputs: the 100k-household synthetic county (``make_county(100_000, seed=0)``,
``partition_county(..., scheduler="synchronous")``), the Helsinki sample (urban rule) and
the 100 x 100 block lattice of ``bench_partition.py`` (rule [50, 100], end to end,
validation off).  Polsby-Popper ``4 pi A / P^2`` per grid in a metric CRS
(:func:`geogrid.partition.polsby_popper`): mean, min, share of grids below 0.2 (long or
serpentine), household CV and wall time.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # tests.geometries holds the seeded generators

from geogrid.partition import partition, polsby_popper  # noqa: E402
from geogrid.rules import Rule  # noqa: E402
from tests.geometries import helsinki_village, lattice_village  # noqa: E402


def row(name: str, pp: np.ndarray, cv: float, seconds: float) -> None:
    print(
        f"| {name} | {len(pp)} | {pp.mean():.3f} | {np.median(pp):.3f} | {pp.min():.3f} "
        f"| {np.mean(pp < 0.2):.1%} | {cv:.3f} | {seconds:.2f} |",
        flush=True,
    )


def county(seed: int) -> None:
    from geogrid.county import partition_county
    from geogrid.synthetic import make_county

    c = make_county(households=100_000, seed=seed)
    t0 = time.perf_counter()
    res = partition_county(
        c.divisions, c.addresses, c.streets, scheduler="synchronous", progress=False, seed=seed
    )
    seconds = time.perf_counter() - t0
    grids = res.grids.to_crs(res.grids.estimate_utm_crs())
    cv = float(np.nanmedian(res.villages["household_cv"]))
    row(
        "county 100k (78 villages), CV = median per village",
        polsby_popper(grids.geometry.values),
        cv,
        seconds,
    )


def helsinki(seed: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v = helsinki_village()
    t0 = time.perf_counter()
    res = partition(v.area, v.addresses, v.streets, "urban", seed=seed, validate=False)
    seconds = time.perf_counter() - t0
    grids = res.grids.to_crs(3067)
    row("Helsinki (urban)", polsby_popper(grids.geometry.values), res.diagnostics.household_cv, seconds)


def lattice(seed: int, size: int = 100) -> None:
    v = lattice_village(size, size, households=(0, 15), addresses_per_block=(1, 2), seed=seed)
    t0 = time.perf_counter()
    res = partition(v.area, v.addresses, v.streets, Rule(50, 100), seed=seed, validate=False)
    seconds = time.perf_counter() - t0
    grids = res.grids.to_crs(res.grids.estimate_utm_crs())
    row(
        f"lattice {size}x{size} [50, 100]",
        polsby_popper(grids.geometry.values),
        res.diagnostics.household_cv,
        seconds,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", default=["county", "helsinki", "lattice"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print("| input | grids | PP mean | PP median | PP min | PP < 0.2 | CV | time (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.only:
        {"county": county, "helsinki": helsinki, "lattice": lattice}[name](args.seed)


if __name__ == "__main__":
    main()
