"""Benchmark: least-change repair vs a fresh re-draw + recode, on seeded household changes.

    .venv/bin/python scripts/bench/bench_repair.py [--seeds 3] [--county-households 20000]

Inputs: seeded synthetic villages (rural 3,000 households, urban 16,000; ~40 grids each) and the
Helsinki sample (``data/helsinki``, urban bounds), each partitioned once (seed 0), then changed by
each scenario of :mod:`geogrid.scenarios` (growth, decline, relocation; 7.5% of the grids pushed
out of bounds) for every seed.  For each input:

- **repair**: :func:`geogrid.plans.repair`; the share of the grids that were within bounds kept
  with the same code and the same geometry bit for bit, whether the repaired plan validates
  (coverage against the village, household bounds from the addresses, codes), the edits, seconds;
- **fresh**: :func:`geogrid.partition.partition` of the changed village + :func:`geogrid.codes.recode`
  against the old plan: the same shares (code kept; code and geometry kept).

Then a county-wide repair with nothing to fix (:func:`geogrid.county.repair_county` on the seeded
county as partitioned, today's addresses = the same addresses): grids changed must be 0.
Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import shapely

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # tests.geometries holds the Helsinki loader

from geogrid.codes import recode  # noqa: E402
from geogrid.county import partition_county, repair_county  # noqa: E402
from geogrid.partition import partition  # noqa: E402
from geogrid.plans import repair  # noqa: E402
from geogrid.scenarios import SCENARIOS  # noqa: E402
from geogrid.synthetic import make_county, make_village  # noqa: E402
from geogrid.validate import validate  # noqa: E402
from tests.geometries import helsinki_village  # noqa: E402


def inputs():
    """(name, rule, area, addresses, streets, division code) of each village benchmarked."""
    for kind, households in (("rural", 3000), ("urban", 16000)):
        code = "320508201201"
        v = make_village(households=households, kind=kind, seed=0, village_code=code)
        yield f"synthetic {kind} {households:,}", kind, v.villages, v.addresses, v.streets, code
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = helsinki_village()
    yield "Helsinki (OSM)", "urban", h.area, h.addresses, h.streets, "320599001001"


def exactly(plan, other, codes) -> list[str]:
    new = dict(zip(other["code"], shapely.to_wkb(other.geometry.values), strict=True))
    old = dict(zip(plan["code"], shapely.to_wkb(plan.geometry.values), strict=True))
    return [c for c in codes if new.get(c) == old[c]]


def run_village(name, rule, area, addresses, streets, code, seeds) -> list[dict]:
    plan = partition(area, addresses, streets, rule, division_code=code, seed=0).grids.drop(columns="blocks")
    rows = []
    for scenario, make in SCENARIOS.items():
        for seed in range(seeds):
            sc = make(plan, addresses, rule, seed=seed)
            within = [c for c in plan["code"] if c not in sc.affected]
            t0 = time.perf_counter()
            result = repair(plan, sc.addresses, streets, rule, seed=seed)
            t_repair = time.perf_counter() - t0
            report = validate(result.plan, parent=area, rule=rule, addresses=sc.addresses)
            t0 = time.perf_counter()
            fresh = partition(
                area, sc.addresses, streets, rule, division_code=code, seed=seed, validate=False
            )
            coded = recode(fresh.grids.drop(columns="code"), plan)
            t_fresh = time.perf_counter() - t0
            rows.append(
                {
                    "village": name,
                    "scenario": scenario,
                    "seed": seed,
                    "grids": len(plan),
                    "out": len(sc.affected),
                    "within": len(within),
                    "kept": len(exactly(plan, result.plan, within)),
                    "valid": report.ok,
                    "ops": ", ".join(op.kind for op in result.operations),
                    "t_repair": t_repair,
                    "fresh_code": len([c for c in within if c in coded.kept]),
                    "fresh_exact": len(exactly(plan, coded.grids, within)),
                    "t_fresh": t_fresh,
                }
            )
            r = rows[-1]
            print(
                f"| {name} | {scenario} | {seed} | {r['out']}/{r['grids']} ({r['out'] / r['grids']:.1%}) "
                f"| {r['kept']}/{r['within']} ({r['kept'] / r['within']:.1%}) | {'yes' if r['valid'] else 'NO'} "
                f"| {r['ops']} | {t_repair:.2f} "
                f"| {r['fresh_code']}/{r['within']} ({r['fresh_code'] / r['within']:.1%}) "
                f"| {r['fresh_exact']}/{r['within']} ({r['fresh_exact'] / r['within']:.1%}) | {t_fresh:.2f} |",
                flush=True,
            )
    return rows


def county_nothing_to_fix(households: int) -> None:
    county = make_county(households=households, seed=0)
    done = partition_county(
        county.divisions, county.addresses, county.streets, scheduler="synchronous", progress=False
    )
    plan = done.grids.drop(columns="blocks")
    t0 = time.perf_counter()
    result = repair_county(plan, county.divisions, county.addresses, county.streets, progress=False)
    seconds = time.perf_counter() - t0
    same = sorted(zip(plan["code"], shapely.to_wkb(plan.geometry.values), strict=True)) == sorted(
        zip(result.plan["code"], shapely.to_wkb(result.plan.geometry.values), strict=True)
    )
    print("\n| county | villages | grids | villages repaired | grids changed | plan identical | seconds |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| synthetic {households:,} households | {len(result.villages)} | {len(plan)} "
        f"| {result.diagnostics['repaired']} | {int(result.villages['changed'].sum())} | {same} | {seconds:.2f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--county-households", type=int, default=20_000)
    args = ap.parse_args()
    print(
        f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(
        "| village | scenario | seed | out of bounds | repair: kept exactly | repair valid | edits | repair s "
        "| fresh+recode: code kept | fresh+recode: code and geometry kept | fresh s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for village in inputs():
        rows += run_village(*village, seeds=args.seeds)
    worst = min(r["kept"] / r["within"] for r in rows if r["out"] <= 0.1 * r["grids"])
    fresh = max(r["fresh_exact"] / r["within"] for r in rows)
    print(
        f"\nall repaired plans valid: {all(r['valid'] for r in rows)}; worst share kept exactly by the repair: "
        f"{worst:.1%}; best share kept exactly by a fresh re-draw + recode: {fresh:.1%}"
    )
    county_nothing_to_fix(args.county_households)


if __name__ == "__main__":
    main()
