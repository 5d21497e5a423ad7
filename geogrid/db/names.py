"""Chinese names of the codes that answers carry (divisions and grids), looked up in one query.

Every code the API returns comes with its Chinese name (``code`` → ``name``, ``grid_code`` →
``grid_name``, ``status`` → ``status_name``...).  Category and status names come from the
catalogue and :mod:`geogrid.incidents`; division and grid names live in the database and are
read here, for a whole page of answers at once.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geogrid.db import load_sql

__all__ = ["code_names"]


def code_names(engine: Engine | Connection, codes: Iterable[str | None]) -> dict[str, str]:
    """Names of division (12-digit) and grid (15/17-digit) codes; unknown codes are left out.

    Grid codes are named from the published plan that holds them, else from the newest plan
    (a grid stored without a name is called by its number, e.g. ``第3网格``).

    Examples
    --------
    >>> code_names(engine, ["320508001000", "320508001001001", None])       # doctest: +SKIP
    {'320508001000': '平江街道', '320508001001001': '西网格'}
    """
    wanted = sorted({c for c in codes if c})
    if not wanted:
        return {}
    sql = sa.text(load_sql("code_names"))
    if isinstance(engine, Connection):
        rows = engine.execute(sql, {"codes": wanted}).all()
    else:
        with engine.connect() as conn:
            rows = conn.execute(sql, {"codes": wanted}).all()
    return {code: name for code, name in rows if name}
