"""Benchmark H3 heat aggregation in the library: 1M seeded synthetic incidents.

Run:  .venv/bin/python scripts/bench/bench_heat.py [--n 1000000] [--seed 42]

Points are clustered around a few hundred hot spots in a ~40 x 40 km city box (like
incidents), indexed once at the stored resolution, then aggregated at res 7/8/9.
Prints a Markdown table for docs/BENCHMARKS.md ("H3 aggregation (library)").
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without installing

from geogrid.heat import STORED_RES, aggregate, cells_for_points, cells_to_geojson
from geogrid.synthetic import hotspot_points


def synthetic_incidents(n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return hotspot_points(n, rng=np.random.default_rng(seed))


def best_of(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    lon, lat = synthetic_incidents(args.n, seed=args.seed)
    t_index, cells = best_of(lambda: cells_for_points(lon, lat, res=STORED_RES), 1)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}")
    print(f"n = {args.n:,} points, seed {args.seed}, stored res {STORED_RES}\n")
    print(f"| step | res | cells out | time (best of {args.repeat}) |")
    print("|---|---|---|---|")
    print(f"| cells_for_points (index once, on insert) | {STORED_RES} | {len(cells):,} | {t_index:.3f} s |")
    for res in (7, 8, 9):
        t_agg, df = best_of(lambda res=res: aggregate(cells, res=res), args.repeat)
        t_geo, _ = best_of(lambda df=df: cells_to_geojson(df), 1)
        print(f"| aggregate | {res} | {len(df):,} | {t_agg:.3f} s |")
        print(f"| cells_to_geojson | {res} | {len(df):,} | {t_geo:.3f} s |")


if __name__ == "__main__":
    main()
