"""Benchmark: partition a synthetic county end to end on a local Dask cluster.

    .venv/bin/python scripts/bench/bench_county.py [--households 100000] [--seed 0]

Generates ``geogrid.synthetic.make_county`` (townships → villages → streets → buildings
→ addresses), then runs :func:`geogrid.county.partition_county` twice: in-process
("synchronous") and on the default LocalCluster (2 single-threaded worker processes).
Reports wall time, peak memory (ru_maxrss of this process; a separate in-process run
under tracemalloc for the peak of Python allocations, since tracing slows the code),
villages, grids, failures and the validation of every village's grids.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc

from geogrid.county import partition_county
from geogrid.synthetic import make_county
from geogrid.validate import validate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--households", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    t0 = time.perf_counter()
    county = make_county(households=args.households, seed=args.seed)
    t_gen = time.perf_counter() - t0
    villages = county.divisions[county.divisions["level"] == "village"]
    print(
        f"# {os.cpu_count()} cores; county: {len(villages)} villages, {len(county.addresses)} addresses, "
        f"{int(county.addresses['households'].sum())} households, {len(county.streets)} streets "
        f"(generated in {t_gen:.1f} s)"
    )
    print("| scheduler | wall (s) | villages ok / failed | grids | max RSS of this process (MB) |")
    print("|---|---|---|---|---|")
    last = None
    for scheduler in ("synchronous", None):
        t0 = time.perf_counter()
        result = partition_county(
            county.divisions,
            county.addresses,
            county.streets,
            scheduler=scheduler,
            progress=False,
            seed=args.seed,
        )
        wall = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        ok = int((result.villages["status"] == "ok").sum())
        print(
            f"| {result.diagnostics['scheduler']} | {wall:.1f} | {ok} / {len(result.failed)} "
            f"| {len(result.grids)} | {rss:.0f} |",
            flush=True,
        )
        last = result
    # tracemalloc slows Python-heavy code several-fold, so memory is measured in a separate run.
    tracemalloc.start()
    partition_county(
        county.divisions, county.addresses, county.streets, scheduler="synchronous", progress=False
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"# tracemalloc peak of Python allocations, in-process run: {peak / 2**20:.0f} MB")
    bad = []
    for row in villages.itertuples():
        grids = last.grids[last.grids["division_code"] == row.code]
        if len(grids) and not validate(grids, parent=row.geometry, rule=row.kind).ok:
            bad.append(row.code)
    cv = last.villages["household_cv"]
    print(
        f"# validation: {len(villages) - len(bad)} / {len(villages)} villages' grids valid; "
        f"household CV per village: median {cv.median():.3f}, max {cv.max():.3f}; "
        f"failures: {last.failed or 'none'}"
    )


if __name__ == "__main__":
    main()
