"""A province into PostGIS county by county: bulk loads by COPY, plans published one county at a time.

Each county is one transaction, so a failure leaves the counties before it in place and nothing
of the failing one; running the same command again continues with the counties not yet there.
Publishing a province publishes each county's plan in its own short transaction
(:func:`geogrid.db.plans.publish_plan`): readers keep being answered from the published plans
throughout, each county switching from its old grids to its new ones at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geogrid.db import plans, store
from geogrid.province import county_files, read_county, read_manifest, read_run

__all__ = ["load_province", "publish_province"]


def _county_loaded(engine: Engine, code: str) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.execute(
                sa.text("SELECT EXISTS (SELECT 1 FROM divisions WHERE code LIKE :p)"), {"p": code + "%"}
            ).scalar()
        )


def load_province(
    engine: Engine, folder: str | Path, *, on_county: Callable[[dict[str, Any]], None] | None = None
) -> list[dict[str, Any]]:
    """Load every county of a province folder (:func:`geogrid.province.write_province`).

    Divisions, addresses and streets of a county go in by COPY in one transaction; a county
    whose divisions are already stored is skipped.  A bad row refuses its whole county with
    :class:`geogrid.errors.ImportRowsError` naming the file, row, field and reason.

    Returns one row per county: ``code``, ``skipped``, ``addresses``, ``streets``,
    ``divisions``, ``seconds``.

    Examples
    --------
    >>> rows = load_province(engine, "province/")          # doctest: +SKIP
    >>> rows[0]["addresses"] / rows[0]["seconds"]          # addresses per second  # doctest: +SKIP
    """
    manifest = read_manifest(folder)
    rows = []
    for code in sorted(manifest["counties"]):
        if _county_loaded(engine, code):
            row: dict[str, Any] = {"code": code, "skipped": True}
        else:
            row = _load_county(engine, folder, code)
        rows.append(row)
        if on_county is not None:
            on_county(row)
    return rows


def _load_county(engine: Engine, folder: str | Path, code: str) -> dict[str, Any]:
    frames = read_county(folder, code)
    paths = county_files(folder, code)
    t0 = time.perf_counter()
    counts = {}
    with engine.begin() as conn:
        for layer in ("divisions", "addresses", "streets"):
            counts[layer] = store.load_frame(
                conn, frames[layer], store.SPECS[layer], source=str(paths[layer])
            )
    return {"code": code, "skipped": False, **counts, "seconds": time.perf_counter() - t0}


def publish_province(
    engine: Engine,
    out: str | Path,
    *,
    author: str = "geogrid province",
    on_county: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Save and publish the plan of every county a partition run finished, one county at a time.

    The plan of a county is saved as a draft of the county's scope, then published in its own
    transaction.  A county whose published plan came from this run already is skipped (publish
    again after an interruption); a county with villages that could not be partitioned is left
    unpublished (listed with ``reason``), as ``geogrid partition --publish`` does.

    Returns one row per county: ``code``, ``plan_id``, ``skipped``, ``reason``,
    ``save_seconds``, ``publish_seconds``.

    Examples
    --------
    >>> rows = publish_province(engine, "run/")                 # doctest: +SKIP
    >>> [(r["code"], r["plan_id"]) for r in rows][:1]           # doctest: +SKIP
    [('327101', 1)]
    """
    run = read_run(out)
    note = f"province run {run['run_id']}"
    rows = []
    for code, entry in sorted(run["counties"].items()):
        if entry.get("status") != "done":
            continue
        row = _publish_county(engine, Path(out), code, entry, note=note, author=author)
        rows.append(row)
        if on_county is not None:
            on_county(row)
    return rows


def _publish_county(engine: Engine, out: Path, code: str, entry: dict, *, note: str, author: str) -> dict:
    scope = code + "000000"
    row: dict[str, Any] = {"code": code, "plan_id": None, "skipped": False, "reason": None}
    current = plans.published_plan_id(engine, scope)
    if current is not None and plans.get_plan(engine, current).note == note:
        return {**row, "plan_id": current, "skipped": True}
    if entry.get("failed_villages"):
        return {**row, "skipped": True, "reason": f"villages not partitioned: {entry['failed_villages']}"}
    grids = gpd.read_parquet(out / "counties" / code / "grids.parquet")
    t0 = time.perf_counter()
    plan_id = plans.save_plan(engine, grids, scope_code=scope, author=author, note=note)
    t1 = time.perf_counter()
    plans.publish_plan(engine, plan_id)
    return {**row, "plan_id": plan_id, "save_seconds": t1 - t0, "publish_seconds": time.perf_counter() - t1}
