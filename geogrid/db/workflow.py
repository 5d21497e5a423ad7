"""Partitioning what is stored: a division scope in PostGIS → a draft (or published) plan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy.engine import Engine

from geogrid.db import plans
from geogrid.errors import ConflictError, InfeasibleError, NotFoundError
from geogrid.rules import Rule


@dataclass
class ScopePartition:
    """The stored plan and the county result it came from (per-village status, failures)."""

    plan_id: int
    result: Any  # geogrid.county.CountyPartitionResult
    info: plans.PlanInfo


def partition_scope(
    engine: Engine,
    scope_code: str,
    *,
    rule: Rule | str | tuple[int, int] | None = None,
    seed: int = 0,
    scheduler: Any = None,
    progress: bool = True,
    author: str | None = None,
    note: str | None = None,
    publish: bool = False,
) -> ScopePartition:
    """Partition every village of ``scope_code`` (county, township or village) and save a draft.

    Villages that cannot be partitioned are listed in ``result.failed`` and left out of the
    draft, which is then not published even when ``publish`` is set: a plan with holes must be
    looked at first.
    """
    from geogrid.county import partition_county

    scope = plans.load_scope(engine, scope_code)
    result = partition_county(
        scope.divisions,
        scope.addresses,
        scope.streets,
        rule=rule,
        seed=seed,
        scheduler=scheduler,
        progress=progress,
    )
    plan_id = plans.save_plan(
        engine,
        result.grids,
        scope_code=scope_code,
        author=author,
        note=note or f"partitioned by geogrid (seed {seed})",
    )
    if publish and not result.failed:
        plans.publish_plan(engine, plan_id)
    return ScopePartition(plan_id, result, plans.get_plan(engine, plan_id))


@dataclass
class ScopeRepair:
    """The draft saved from a repair and the county repair it came from (per-village status)."""

    plan_id: int
    result: Any  # geogrid.county.CountyRepairResult
    info: plans.PlanInfo
    dropped_subgrids: list[str]


def repair_scope(
    engine: Engine,
    scope_code: str,
    *,
    seed: int = 0,
    max_changed: int | None = None,
    scheduler: Any = None,
    progress: bool = True,
    author: str | None = None,
    note: str | None = None,
    publish: bool = False,
) -> ScopeRepair:
    """Repair the published grids of ``scope_code`` against today's address register; save a draft.

    Only villages with a grid out of bounds are repaired (:func:`geogrid.county.repair_county`);
    the draft holds every grid of the scope, the untouched ones exactly as published.  Sub-grids
    of a grid that changed no longer tile it and are left out (listed in ``dropped_subgrids``).
    The draft is published only when asked and no village failed.

    Examples
    --------
    >>> done = repair_scope(engine, "320508019044")              # doctest: +SKIP
    >>> done.info.status, done.result.villages["status"].tolist()  # doctest: +SKIP
    ('draft', ['repaired'])

    Raises
    ------
    NotFoundError
        Nothing is published for the scope.
    ConflictError
        Every grid is within its bounds: there is nothing to repair (no draft is saved).
    InfeasibleError
        No village that needed a repair could be repaired (the reasons per village).
    """
    from geogrid.codes import GRID_LEN
    from geogrid.county import repair_county

    published, _ = plans.published_grids(engine, scope_code)
    if published.empty:
        raise NotFoundError(f"scope {scope_code} has no published grids to repair")
    scope = plans.load_scope(engine, scope_code)
    top = published[published["code"].str.len() == GRID_LEN]
    result = repair_county(
        top,
        scope.divisions,
        scope.addresses,
        scope.streets,
        seed=seed,
        max_changed=max_changed,
        scheduler=scheduler,
        progress=progress,
    )
    repaired = result.villages["status"] == "repaired"
    if not repaired.any():
        if result.failed:
            raise InfeasibleError(
                f"no village of {scope_code} could be repaired: "
                + "; ".join(f"{c}: {r}" for c, r in sorted(result.failed.items())),
                details={"failed": result.failed},
            )
        raise ConflictError(f"every grid of {scope_code} is within its household bounds; nothing to repair")
    subs = published[published["code"].str.len() > GRID_LEN]
    kept = set(result.plan["code"]) & set(top["code"])
    unchanged = {c for c in kept if c not in set(_changed_codes(result))}
    stays = subs["code"].str[:GRID_LEN].isin(unchanged)
    draft = gpd.GeoDataFrame(
        pd.concat([result.plan, subs[stays]], ignore_index=True), geometry="geometry", crs=published.crs
    )
    plan_id = plans.save_plan(
        engine,
        draft,
        scope_code=scope_code,
        author=author,
        note=note or f"repaired by geogrid (seed {seed}): {int(repaired.sum())} village(s)",
    )
    if publish and not result.failed:
        plans.publish_plan(engine, plan_id)
    return ScopeRepair(plan_id, result, plans.get_plan(engine, plan_id), sorted(subs.loc[~stays, "code"]))


def _changed_codes(result) -> list[str]:
    """Old codes of the grids any edit of the repair replaced."""
    return [c for op in result.operations for c in op.grids_before]
