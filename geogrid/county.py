"""Partition a whole county (or city): townships → villages → grids, villages in parallel on Dask.

Every village is an independent partition problem: its addresses (by ``village_code``
or point-in-polygon), the streets that reach it and its rule (from its ``kind`` unless
one rule is given) are shipped to a Dask worker, which returns coded grids or the reason
the village failed.  A failed village never stops the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geogrid.errors import GeogridError
from geogrid.frames import GRID_COLUMNS, WGS84
from geogrid.rules import RURAL, URBAN, Rule, resolve_rule

DEFAULT_WORKERS = 2
_RULE_BY_KIND = {"urban": URBAN, "rural": RURAL}


@dataclass
class CountyPartitionResult:
    """Grids of every village that succeeded, one status row per village, and failures.

    ``villages`` columns: ``code``, ``township_code``, ``name``, ``kind``, ``rule``,
    ``households``, ``addresses``, ``grids``, ``household_cv``, ``status`` (``ok`` |
    ``failed``), ``reason``, ``seconds``.
    """

    grids: gpd.GeoDataFrame
    villages: pd.DataFrame
    failed: dict[str, str] = field(default_factory=dict)
    diagnostics: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def village_seed(seed: int, code: str) -> int:
    """Seed of one village: depends on the run seed and the village code, not on scheduling order."""
    digits = int(code) if str(code).isdigit() else abs(hash(code))
    return int(np.random.SeedSequence([seed, digits % (2**63)]).generate_state(1)[0])


def _on_worker(
    task: dict[str, Any], work: Callable[[], dict[str, Any]], failed: dict[str, Any]
) -> dict[str, Any]:
    """``work()``'s fields for one village (runs on a worker), timed; never raises for a bad village:
    its error becomes ``status="failed"`` with the reason and the ``failed`` fields."""
    t0 = time.perf_counter()
    out: dict[str, Any] = {"code": task["code"]}
    try:
        out.update(work())
    except GeogridError as exc:
        out.update(status="failed", reason=f"{type(exc).__name__}: {exc}", **failed)
    except Exception as exc:  # a bug in one village must not sink the county run; it is reported
        out.update(status="failed", reason=f"unexpected {type(exc).__name__}: {exc}", **failed)
    out["seconds"] = time.perf_counter() - t0
    return out


def _run_village(task: dict[str, Any]) -> dict[str, Any]:
    """Partition one village (runs on a worker); never raises for a bad village."""
    from geogrid.partition import partition

    def work() -> dict[str, Any]:
        result = partition(
            task["area"],
            task["addresses"],
            task["streets"],
            task["rule"],
            barriers=task["barriers"],
            kind=task["kind"],
            seed=task["seed"],
            division_code=task["code"],
            validate=False,
            # Addresses grouped by village code may lie outside the drawn boundary: reported, not fatal.
            drop_outside=True,
        )
        n, cv = len(result.grids), result.diagnostics.household_cv
        return {"status": "ok", "reason": None, "grids": result.grids, "n_grids": n, "cv": cv}

    return _on_worker(task, work, {"grids": None, "n_grids": 0, "cv": np.nan})


def _village_tasks(
    villages: gpd.GeoDataFrame,
    addresses: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame,
    barriers: gpd.GeoDataFrame | None,
    rule: Rule | None,
    seed: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One task per village plus the villages that fail before partitioning (no rule)."""
    village_geoms = np.asarray(villages.geometry.values)
    groups = _address_groups(villages, addresses)
    street_groups = _line_groups(village_geoms, streets)
    barrier_groups = _line_groups(village_geoms, barriers) if barriers is not None and len(barriers) else {}

    tasks, skipped = [], []
    empty_idx = np.empty(0, dtype=np.int64)
    for v, row in enumerate(villages.itertuples(index=False)):
        code = str(row.code)
        kind = getattr(row, "kind", None)
        village_rule = rule if rule is not None else (_RULE_BY_KIND.get(kind) if kind is not None else None)
        if village_rule is None:
            skipped.append({"code": code, "status": "failed", "reason": f"kind {kind!r} has no default rule"})
            continue
        tasks.append(
            {
                "code": code,
                "kind": kind if kind in ("urban", "rural") else None,
                "rule": village_rule,
                "area": gpd.GeoSeries([village_geoms[v]], crs=villages.crs),
                "addresses": addresses.iloc[groups.get(code, empty_idx)],
                "streets": streets.iloc[street_groups.get(v, empty_idx)],
                "barriers": (
                    barriers.iloc[barrier_groups[v]] if barriers is not None and v in barrier_groups else None
                ),
                "seed": village_seed(seed, code),
            }
        )
    return tasks, skipped


def _address_groups(villages: gpd.GeoDataFrame, addresses: gpd.GeoDataFrame) -> dict[str, np.ndarray]:
    """Positions of each village's addresses, by ``village_code`` when complete, else point in polygon."""
    if "village_code" in addresses.columns and addresses["village_code"].notna().all():
        return addresses.groupby(addresses["village_code"].astype(str)).indices
    # Point in polygon; a point on a shared village border goes to the first village.
    pi, vi = shapely.STRtree(np.asarray(villages.geometry.values)).query(
        np.asarray(addresses.geometry.values), predicate="intersects"
    )
    first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.zeros(0, dtype=bool)
    owner = np.full(len(addresses), -1, dtype=np.int64)
    owner[pi[first]] = vi[first]
    codes = villages["code"].astype(str).to_numpy()
    inside = np.flatnonzero(owner >= 0)
    return {codes[v]: idx for v, idx in pd.Series(inside).groupby(owner[inside]).apply(np.asarray).items()}


def _line_groups(village_geoms: np.ndarray, lines: gpd.GeoDataFrame) -> dict[int, np.ndarray]:
    """Positions of the lines (streets, barriers) reaching each village (by village position)."""
    if lines is None or not len(lines):
        return {}
    li, lv = shapely.STRtree(village_geoms).query(np.asarray(lines.geometry.values), predicate="intersects")
    return pd.Series(li).groupby(lv).apply(lambda s: s.to_numpy()).to_dict() if len(li) else {}


def _executor(scheduler: Any):
    """A Dask client for ``scheduler`` and a function that releases what was started here.

    ``None`` starts a LocalCluster of :data:`DEFAULT_WORKERS` single-threaded processes;
    a string other than ``"synchronous"`` is a scheduler address; a ``Client`` is used as is.
    """
    if scheduler in ("synchronous", "sync"):
        return None, lambda: None
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        return scheduler, lambda: None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=DEFAULT_WORKERS, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)

        def close() -> None:
            client.close()
            cluster.close()

        return client, close
    client = Client(scheduler)
    return client, client.close


def run_tasks(
    fn: Callable[[dict[str, Any]], dict[str, Any]],
    tasks: list[dict[str, Any]],
    *,
    scheduler: Any = None,
    progress: bool = True,
    label: str = "villages",
) -> list[dict[str, Any]]:
    """``fn`` over ``tasks`` on Dask (see :func:`_executor`) with a progress bar; results as they finish.

    ``fn`` must never raise for a bad task (it reports the failure in its result), so that one
    village cannot stop the others.

    Examples
    --------
    >>> sorted(r["n"] for r in run_tasks(lambda t: {"n": t["n"] * 2}, [{"n": 1}, {"n": 2}],
    ...                                   scheduler="synchronous", progress=False))
    [2, 4]
    """
    client, close = _executor(scheduler)
    outcomes: list[dict[str, Any]] = []
    bar = None
    try:
        if progress:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            bar.start()
            bar_task = bar.add_task(label, total=len(tasks))
        if client is None:
            for task in tasks:
                outcomes.append(fn(task))
                if bar is not None:
                    bar.advance(bar_task)
        else:
            from distributed import as_completed

            futures = client.map(fn, tasks, pure=False)
            for fut in as_completed(futures):
                outcomes.append(fut.result())
                fut.release()
                if bar is not None:
                    bar.advance(bar_task)
    finally:
        if bar is not None:
            bar.stop()
        close()
    return outcomes


def partition_county(
    divisions: gpd.GeoDataFrame,
    addresses: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame,
    *,
    rule: Rule | str | tuple[int, int] | None = None,
    scheduler: Any = None,
    progress: bool = True,
    seed: int = 0,
    barriers: gpd.GeoDataFrame | None = None,
) -> CountyPartitionResult:
    """Partition every village of a county in parallel; failed villages are reported, not raised.

    Parameters
    ----------
    divisions : GeoDataFrame
        Townships and villages (``frames`` divisions schema); rows with ``level ==
        "village"`` are partitioned (all rows if there is no ``level`` column).
    addresses : GeoDataFrame
        Address points with ``households``; assigned to villages by ``village_code`` when
        that column is complete, otherwise by point in polygon.
    streets : GeoDataFrame
        Street lines of the county; each village gets the streets that reach it.
    rule : Rule, "urban", "rural" or (lo, hi), optional
        One rule for all villages; default per village from its ``kind``
        (urban → 300–500, rural → 50–100).
    scheduler : None, "synchronous", str or distributed.Client
        ``None``: a local cluster of 2 worker processes (started and closed here);
        ``"synchronous"``: in this process; a string: a scheduler address.
    progress : bool
        Show a progress bar of villages done.
    seed : int
        Run seed; each village derives its own from it and its code.

    Returns
    -------
    CountyPartitionResult

    Examples
    --------
    >>> from geogrid.synthetic import make_county
    >>> county = make_county(households=3_000, seed=1)
    >>> res = partition_county(county.divisions, county.addresses, county.streets,
    ...                        scheduler="synchronous", progress=False)
    >>> int(res.grids.households.sum()) + int(res.villages.query("status == 'failed'").households.sum())
    3000
    """
    t0 = time.perf_counter()
    fixed_rule = resolve_rule(rule) if rule is not None else None
    villages = divisions[divisions["level"] == "village"] if "level" in divisions.columns else divisions
    villages = villages.sort_values("code").reset_index(drop=True)
    if villages.crs is None:
        villages = villages.set_crs(WGS84)
    tasks, skipped = _village_tasks(villages, addresses, streets, barriers, fixed_rule, seed)
    t_prep = time.perf_counter()

    outcomes: list[dict[str, Any]] = list(skipped)
    outcomes += run_tasks(_run_village, tasks, scheduler=scheduler, progress=progress, label="villages")
    client_used = scheduler not in ("synchronous", "sync")
    t_run = time.perf_counter()

    by_code = {o["code"]: o for o in outcomes}
    rows = []
    grids = []
    for task_row in villages.itertuples(index=False):
        code = str(task_row.code)
        o = by_code[code]
        village_task = next((t for t in tasks if t["code"] == code), None)
        rows.append(
            {
                "code": code,
                "township_code": getattr(task_row, "parent_code", None) or code[:9] + "000",
                "name": getattr(task_row, "name", None),
                "kind": getattr(task_row, "kind", None),
                "rule": f"{village_task['rule'].lo}-{village_task['rule'].hi}" if village_task else None,
                "households": int(village_task["addresses"]["households"].sum()) if village_task else 0,
                "addresses": len(village_task["addresses"]) if village_task else 0,
                "grids": o.get("n_grids", 0),
                "household_cv": o.get("cv", np.nan),
                "status": o["status"],
                "reason": o.get("reason"),
                "seconds": o.get("seconds", 0.0),
            }
        )
        if o.get("grids") is not None:
            grids.append(o["grids"])
    villages_frame = pd.DataFrame(rows)
    if grids:
        all_grids = gpd.GeoDataFrame(pd.concat(grids, ignore_index=True), geometry="geometry", crs=WGS84)
    else:
        all_grids = gpd.GeoDataFrame(
            {c: [] for c in [*GRID_COLUMNS, "blocks"]}, geometry=gpd.GeoSeries([], crs=WGS84)
        )
    failed = {r["code"]: r["reason"] for r in rows if r["status"] != "ok"}
    return CountyPartitionResult(
        grids=all_grids,
        villages=villages_frame,
        failed=failed,
        diagnostics={
            "villages": len(villages_frame),
            "failed": len(failed),
            "grids": len(all_grids),
            "households": int(villages_frame["households"].sum()),
            "scheduler": str(scheduler or f"LocalCluster({DEFAULT_WORKERS})")
            if client_used
            else "synchronous",
            "seconds": {"prepare": t_prep - t0, "run": t_run - t_prep, "total": time.perf_counter() - t0},
        },
    )


# --------------------------------------------------------------------------- repair


@dataclass
class CountyRepairResult:
    """The repaired plan of every village, one status row per village, the edits and failures.

    ``villages`` columns: ``code``, ``name``, ``rule``, ``grids_before``, ``grids_after``, ``out_of_bounds``
    (grids out of bounds before), ``changed`` (old grids changed or retired), ``status``
    (``unchanged`` | ``repaired`` | ``failed``), ``reason``, ``seconds``.  A failed village
    keeps its grids as they were.
    """

    plan: gpd.GeoDataFrame
    villages: pd.DataFrame
    operations: list[Any] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    diagnostics: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def _repair_village(task: dict[str, Any]) -> dict[str, Any]:
    """Repair one village's grids (runs on a worker); never raises for a bad village."""
    from geogrid.repair import repair_plan

    def work() -> dict[str, Any]:
        result = repair_plan(
            task["grids"],
            task["addresses"],
            task["streets"],
            task["rule"],
            seed=task["seed"],
            max_changed=task["max_changed"],
        )
        return {
            "status": "repaired",
            "reason": None,
            "grids": result.plan,
            "changed": len(result.changed),
            "operations": result.operations,
        }

    return _on_worker(task, work, {"grids": None, "changed": 0, "operations": []})


def repair_county(
    plan: gpd.GeoDataFrame,
    divisions: gpd.GeoDataFrame,
    addresses: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame,
    *,
    rule: Rule | str | tuple[int, int] | None = None,
    scheduler: Any = None,
    progress: bool = True,
    seed: int = 0,
    max_changed: int | None = None,
) -> CountyRepairResult:
    """Repair every village of a county plan in parallel; villages with nothing to fix are untouched.

    Households are counted per grid from ``addresses``; only villages with a grid out of
    bounds are repaired (:func:`geogrid.plans.repair`, on Dask with a progress bar), the others
    keep their rows exactly as given.  A village that cannot be repaired keeps its grids and is
    reported in ``failed``.

    Parameters
    ----------
    plan : GeoDataFrame
        The published plan of the county (or of any set of villages), EPSG:4326.
    divisions : GeoDataFrame
        The villages (``code``, ``kind``; rows with ``level == "village"`` when there is a
        ``level`` column); ``kind`` gives each village's rule unless ``rule`` is given.
    addresses, streets : GeoDataFrame
        Today's addresses (``households``) and the street lines of the county.
    rule, scheduler, progress, seed
        As in :func:`partition_county`.  With ``scheduler=None`` a local cluster is started
        only when at least two villages need a repair.
    max_changed : int, optional
        Most grids of each village that may change.

    Returns
    -------
    CountyRepairResult

    Examples
    --------
    >>> from geogrid.synthetic import make_county
    >>> county = make_county(households=3_000, seed=1)
    >>> done = partition_county(county.divisions, county.addresses, county.streets,
    ...                         scheduler="synchronous", progress=False)
    >>> res = repair_county(done.grids, county.divisions, county.addresses, county.streets, progress=False)
    >>> res.villages["status"].unique().tolist(), res.plan.geometry.equals(done.grids.geometry)
    (['unchanged'], True)
    """
    from geogrid.plans import recount

    t0 = time.perf_counter()
    fixed_rule = resolve_rule(rule) if rule is not None else None
    villages = divisions[divisions["level"] == "village"] if "level" in divisions.columns else divisions
    villages = villages.sort_values("code").reset_index(drop=True)
    groups = _address_groups(villages, addresses)
    street_groups = _line_groups(np.asarray(villages.geometry.values), streets)
    empty_idx = np.empty(0, dtype=np.int64)
    by_village = plan.groupby(plan["division_code"].astype(str)).indices
    tasks, rows = [], {}
    for v, row in enumerate(villages.itertuples(index=False)):
        code = str(row.code)
        if code not in by_village:
            continue
        kind = getattr(row, "kind", None)
        village_rule = fixed_rule if fixed_rule is not None else _RULE_BY_KIND.get(str(kind))
        grids = plan.iloc[by_village[code]]
        pts = addresses.iloc[groups.get(code, empty_idx)]
        out = 0
        if village_rule is not None:
            hh = recount(grids, pts)["households"]
            out = int(((hh < village_rule.lo) | (hh > village_rule.hi)).sum())
        name = getattr(row, "name", None)
        rows[code] = {
            "code": code,
            "name": name,
            "rule": village_rule,
            "grids_before": len(grids),
            "out_of_bounds": out,
        }
        if village_rule is None:
            rows[code].update(status="failed", reason=f"kind {kind!r} has no default rule")
        elif out:
            tasks.append(
                {
                    "code": code,
                    "grids": grids,
                    "addresses": pts,
                    "streets": streets.iloc[street_groups.get(v, empty_idx)],
                    "rule": village_rule,
                    "seed": village_seed(seed, code),
                    "max_changed": max_changed,
                }
            )
    if scheduler is None and len(tasks) < 2:
        scheduler = "synchronous"  # no cluster for a single village (or none)
    outcomes = run_tasks(_repair_village, tasks, scheduler=scheduler, progress=progress, label="repairs")
    return _county_repair_result(plan, rows, outcomes, scheduler, t0)


def _county_repair_result(plan, rows, outcomes, scheduler, t0) -> CountyRepairResult:
    """The county plan with each repaired village's grids in place of its old ones."""
    by_code = {o["code"]: o for o in outcomes}
    replaced = {c for c, o in by_code.items() if o["status"] == "repaired"}
    keep = plan[~plan["division_code"].astype(str).isin(replaced)]
    parts = [keep, *(by_code[c]["grids"] for c in sorted(replaced))]
    merged = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry=plan.geometry.name, crs=plan.crs)
    table = []
    for code, row in rows.items():
        o = by_code.get(code)
        status = row.get("status") or (o["status"] if o else "unchanged")
        after = len(o["grids"]) if o and o.get("grids") is not None else row["grids_before"]
        rule = row["rule"]
        table.append(
            {
                **row,
                "rule": f"{rule.lo}-{rule.hi}" if rule is not None else None,
                "grids_after": after,
                "changed": o["changed"] if o else 0,
                "status": status,
                "reason": row.get("reason") or (o["reason"] if o else None),
                "seconds": o["seconds"] if o else 0.0,
            }
        )
    villages = pd.DataFrame(
        table,
        columns=[
            "code",
            "name",
            "rule",
            "grids_before",
            "grids_after",
            "out_of_bounds",
            "changed",
            "status",
            "reason",
            "seconds",
        ],
    )
    failed = {r["code"]: r["reason"] for r in table if r["status"] == "failed"}
    operations = [op for o in outcomes for op in o.get("operations", [])]
    return CountyRepairResult(
        plan=merged,
        villages=villages,
        operations=operations,
        failed=failed,
        diagnostics={
            "villages": len(villages),
            "repaired": len(replaced),
            "failed": len(failed),
            "scheduler": str(scheduler or f"LocalCluster({DEFAULT_WORKERS})"),
            "seconds": time.perf_counter() - t0,
        },
    )
