"""Putting a staff roster on the stored grids, all or nothing."""

from __future__ import annotations

import json

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geogrid.errors import ImportRowsError, RowError


def assign_staff(
    engine: Engine, roster: pd.DataFrame, *, plan_id: int | None = None, source: str = "roster"
) -> int:
    """Set head and workers of the grids named in ``roster`` (see :func:`geogrid.staff.read_roster`).

    Without ``plan_id`` the grids are those of the published plans (what lookups answer);
    with it, the grids of that plan (e.g. a draft before publishing).  A code that names no
    such grid is a row error and nothing is written.  Returns the number of grids updated.
    """
    if roster.empty:
        return 0
    codes = roster["code"].tolist()
    scope = (
        "g.plan_id = :plan"
        if plan_id is not None
        else ("g.plan_id IN (SELECT id FROM plans WHERE status = 'published')")
    )
    with engine.begin() as conn:
        known = set(
            conn.execute(
                sa.text(f"SELECT g.code FROM grids g WHERE {scope} AND g.code = ANY(:codes)"),
                {"codes": codes, "plan": plan_id},
            ).scalars()
        )
        missing = [
            RowError(
                i, "code", f"no {'grid of plan ' + str(plan_id) if plan_id else 'published grid'} {code}"
            )
            for i, code in enumerate(codes, start=1)
            if code not in known
        ]
        if missing:
            raise ImportRowsError(source, missing)
        rows = [
            {
                "code": r.code,
                "head": r.head_name,
                "phone": r.head_phone,
                "workers": json.dumps(r.workers, ensure_ascii=False),
                "plan": plan_id,
            }
            for r in roster.itertuples(index=False)
        ]
        conn.execute(
            sa.text(
                f"UPDATE grids g SET head_name = :head, head_phone = :phone, workers = CAST(:workers AS jsonb) "
                f"WHERE g.code = :code AND {scope}"
            ),
            rows,
        )
    return len(rows)
