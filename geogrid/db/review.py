"""Reviewing a stored plan before publishing: validation report and diff to the published plan.

Both read the plan and its scope from PostGIS and hand them to the pure core
(:func:`geogrid.validate.validate`, :func:`geogrid.plans.diff_plans`).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy.engine import Engine

from geogrid.codes import GRID_LEN
from geogrid.db import store
from geogrid.db.plans import get_plan, load_plan, published_grids, scope_prefix
from geogrid.frames import WGS84
from geogrid.plans import PlanDiff, diff_plans
from geogrid.validate import DEFAULT_TOLERANCE_M, DEFAULT_TOLERANCE_M2, Issue, ValidationReport, validate

__all__ = [
    "PlanReview",
    "diff_to_dict",
    "diff_to_published",
    "repair_to_dict",
    "review_to_dict",
    "validate_plan",
]


@dataclass
class PlanReview:
    """The validation of a stored plan: one report per village (and per grid for sub-grids)."""

    plan_id: int
    reports: dict[str, ValidationReport]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.reports.values())

    @property
    def issues(self) -> list[Issue]:
        return [i for r in self.reports.values() for i in r.issues]

    @property
    def n_grids(self) -> int:
        return sum(r.n_grids for r in self.reports.values())


def validate_plan(engine: Engine, plan_id: int) -> PlanReview:
    """Validate plan ``plan_id`` village by village against the stored divisions.

    The grids (15 digits) of each village must tile it without gaps or overlaps and keep
    the household rule of the village's kind (``urban`` 300–500, ``rural`` 50–100;
    dedicated grids are exempt from the bounds).  Sub-grids (17 digits) must tile their grid.

    Examples
    --------
    >>> review = validate_plan(engine, draft_id)     # doctest: +SKIP
    >>> review.ok, len(review.issues)                # doctest: +SKIP
    (True, 0)
    """
    plan = get_plan(engine, plan_id)
    grids = load_plan(engine, plan_id)
    villages = store.read_table(
        engine,
        "divisions",
        where="level = 'village' AND code LIKE :p",
        params={"p": scope_prefix(plan.scope_code) + "%"},
    )
    reports: dict[str, ValidationReport] = {}
    top = grids[grids["code"].str.len() == GRID_LEN]
    for code, group in top.groupby("division_code"):
        parent = villages[villages["code"] == code]
        kinds = group["kind"]
        kind = parent["kind"].iloc[0] if len(parent) and parent["kind"].iloc[0] else kinds.mode().iloc[0]
        rule = kind if kind in ("urban", "rural") else None
        report = validate(group, parent=parent[["code", "geometry"]] if len(parent) else None, rule=rule)
        dedicated = set(group.loc[kinds == "dedicated", "code"])
        report.issues = [
            i for i in report.issues if not (i.kind == "households" and set(i.codes) <= dedicated)
        ]
        reports[str(code)] = report
    # A village of the scope without any grid is a gap as big as the village.
    for code in sorted(set(villages["code"]) - set(top["division_code"])):
        geom = villages.loc[villages["code"] == code, "geometry"].iloc[0]
        reports[code] = ValidationReport(
            issues=[Issue("gap", (code,), f"village {code} has no grids in this plan", geom, None)],
            n_grids=0,
            checks=("gap",),
        )
    subs = grids[grids["code"].str.len() > GRID_LEN]
    for parent_code, group in subs.groupby(subs["code"].str[:GRID_LEN]):
        parent = top[top["code"] == parent_code]
        report = validate(group, parent=parent[["code", "geometry"]] if len(parent) else None)
        reports[str(parent_code)] = report
    return PlanReview(plan_id, reports)


def _geojson(geom: shapely.Geometry | None) -> dict | None:
    if geom is None or geom.is_empty:
        return None
    return shapely.geometry.mapping(shapely.set_precision(geom, 1e-7))


def review_to_dict(review: PlanReview, *, max_issues: int = 1000) -> dict:
    """The review as JSON-ready data: ``ok``, counts per kind and the issues (GeoJSON geometry)."""
    issues = review.issues
    counts: dict[str, int] = {}
    for issue in issues:
        counts[issue.kind] = counts.get(issue.kind, 0) + 1
    return {
        "plan_id": review.plan_id,
        "ok": review.ok,
        "n_grids": review.n_grids,
        # Overlaps, gaps and outside parts narrower or smaller than these are coordinate precision.
        "tolerances": {"width_m": DEFAULT_TOLERANCE_M, "area_m2": DEFAULT_TOLERANCE_M2},
        "counts": counts,
        "issues": [
            {
                "kind": i.kind,
                "codes": list(i.codes),
                "message": i.message,
                "measure": None if i.measure is None else float(i.measure),
                "geometry": _geojson(i.geometry),
            }
            for i in issues[:max_issues]
        ],
        "truncated": len(issues) > max_issues,
    }


def diff_to_published(engine: Engine, plan_id: int) -> tuple[PlanDiff, list[int]]:
    """Diff plan ``plan_id`` against what is published for its scope (and the ids compared with).

    Households moved are counted from the stored address points of the scope.
    """
    plan = get_plan(engine, plan_id)
    new = load_plan(engine, plan_id)
    old, ids = published_grids(engine, plan.scope_code)
    addresses = store.read_table(
        engine,
        "addresses",
        where="division_code LIKE :p",
        params={"p": scope_prefix(plan.scope_code) + "%"},
        columns=["source_id", "households", "division_code"],
    )
    if len(addresses):
        return diff_plans(old, new, addresses=addresses), ids
    if len(old) == 0:
        # Nothing published and no address register: the new plan's own counts are the snapshot.
        points = gpd.GeoDataFrame(
            {"households": new["households"].fillna(0)},
            geometry=new.geometry.representative_point(),
            crs=WGS84,
        )
        diff = diff_plans(old, new, addresses=points)
        diff.snapshot = "the new plan's own households (no address register, nothing published)"
        return diff, ids
    return diff_plans(old, new), ids


def diff_to_dict(diff: PlanDiff, *, plan_id: int, against: list[int]) -> dict:
    """A diff as JSON-ready data (one row per grid, without geometry)."""
    frame = pd.DataFrame(diff.frame.drop(columns=diff.frame.geometry.name))
    rows = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    for row in rows:
        for key, value in row.items():
            if hasattr(value, "item"):
                row[key] = value.item()
    return {
        "plan_id": plan_id,
        "against_plan_ids": against,
        "added": int(diff.added),
        "removed": int(diff.removed),
        "changed": int(diff.changed),
        "unchanged": int(diff.unchanged),
        "households_moved": int(diff.households_moved),
        "households_before": int(diff.households_before),
        "households_after": int(diff.households_after),
        "households_in": int(diff.households_in),
        "households_out": int(diff.households_out),
        "growth": int(diff.growth),
        "entered": int(diff.entered),
        "left": int(diff.left),
        "snapshot": diff.snapshot,
        "level": diff.level,
        "exact": bool(diff.exact),
        "recoded": dict(diff.recoded),
        "summary": str(diff),
        "grids": rows,
    }


_REPAIR_STATUS_ZH = {"unchanged": "无需调整", "repaired": "已调整", "failed": "无法调整"}


def repair_to_dict(result, dropped_subgrids: list[str] | None = None) -> dict:
    """A county repair (:class:`geogrid.county.CountyRepairResult`) as JSON-ready data.

    Villages that needed nothing are counted, not listed; every edit is described in Chinese.
    """
    villages = []
    for row in result.villages.to_dict("records"):
        if row["status"] == "unchanged":
            continue
        villages.append(
            {
                "code": row["code"],
                "name": row["name"],
                "status": row["status"],
                "status_zh": _REPAIR_STATUS_ZH[row["status"]],
                **{k: int(row[k]) for k in ("out_of_bounds", "changed", "grids_before", "grids_after")},
                "reason": row["reason"],
            }
        )
    return {
        "unchanged_villages": int((result.villages["status"] == "unchanged").sum()),
        "villages": villages,
        "operations": [
            {
                "kind": op.kind,
                "grids_before": list(op.grids_before),
                "households_before": [int(h) for h in op.households_before],
                "grids_after": list(op.grids_after),
                "households_after": [int(h) for h in op.households_after],
                "description": op.describe(),
            }
            for op in result.operations
        ],
        "dropped_subgrids": list(dropped_subgrids or []),
    }
