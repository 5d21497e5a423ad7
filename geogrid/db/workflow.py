"""Partitioning what is stored: a division scope in PostGIS → a draft (or published) plan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from geogrid.db import plans
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
