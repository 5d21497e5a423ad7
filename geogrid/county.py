"""Partition a whole county (or city): townships → villages → grids, villages in parallel on Dask.

Every village is an independent partition problem: its addresses (by ``village_code``
or point-in-polygon), the streets that reach it and its rule (from its ``kind`` unless
one rule is given) are shipped to a Dask worker, which returns coded grids or the reason
the village failed.  A failed village never stops the others.
"""

from __future__ import annotations

import time
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


def _run_village(task: dict[str, Any]) -> dict[str, Any]:
    """Partition one village (runs on a worker); never raises for a bad village."""
    from geogrid.partition import partition

    t0 = time.perf_counter()
    out: dict[str, Any] = {"code": task["code"]}
    try:
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
        out.update(
            status="ok",
            reason=None,
            grids=result.grids,
            n_grids=len(result.grids),
            cv=result.diagnostics.household_cv,
        )
    except GeogridError as exc:
        out.update(status="failed", reason=f"{type(exc).__name__}: {exc}", grids=None, n_grids=0, cv=np.nan)
    except Exception as exc:  # a bug in one village must not sink the county run; it is reported
        out.update(
            status="failed",
            reason=f"unexpected {type(exc).__name__}: {exc}",
            grids=None,
            n_grids=0,
            cv=np.nan,
        )
    out["seconds"] = time.perf_counter() - t0
    return out


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
    if "village_code" in addresses.columns and addresses["village_code"].notna().all():
        groups = addresses.groupby(addresses["village_code"].astype(str)).indices
    else:
        # Point in polygon; a point on a shared village border goes to the first village.
        pi, vi = shapely.STRtree(village_geoms).query(
            np.asarray(addresses.geometry.values), predicate="intersects"
        )
        first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.zeros(0, dtype=bool)
        owner = np.full(len(addresses), -1, dtype=np.int64)
        owner[pi[first]] = vi[first]
        codes = villages["code"].astype(str).to_numpy()
        inside = np.flatnonzero(owner >= 0)
        groups = {
            codes[v]: idx for v, idx in pd.Series(inside).groupby(owner[inside]).apply(np.asarray).items()
        }
    street_geoms = np.asarray(streets.geometry.values)
    si, sv = shapely.STRtree(village_geoms).query(street_geoms, predicate="intersects")
    street_groups = pd.Series(si).groupby(sv).apply(lambda s: s.to_numpy()).to_dict() if len(si) else {}
    barrier_groups: dict[int, np.ndarray] = {}
    if barriers is not None and len(barriers):
        bi, bv = shapely.STRtree(village_geoms).query(
            np.asarray(barriers.geometry.values), predicate="intersects"
        )
        barrier_groups = pd.Series(bi).groupby(bv).apply(lambda s: s.to_numpy()).to_dict() if len(bi) else {}

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

    client, close = _executor(scheduler)
    outcomes: list[dict[str, Any]] = list(skipped)
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
            bar_task = bar.add_task("villages", total=len(tasks))
        if client is None:
            for task in tasks:
                outcomes.append(_run_village(task))
                if bar is not None:
                    bar.advance(bar_task)
        else:
            from distributed import as_completed

            futures = client.map(_run_village, tasks, pure=False)
            for fut in as_completed(futures):
                outcomes.append(fut.result())
                fut.release()
                if bar is not None:
                    bar.advance(bar_task)
    finally:
        if bar is not None:
            bar.stop()
        close()
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
            "scheduler": "synchronous"
            if client is None
            else str(scheduler or f"LocalCluster({DEFAULT_WORKERS})"),
            "seconds": {"prepare": t_prep - t0, "run": t_run - t_prep, "total": time.perf_counter() - t0},
        },
    )
