"""The matching keys stored with every standard address (migration ``0006_address_keys``).

:func:`geogrid.address.address_keys` computes them in Python (OpenCC, cn2an, cpca and pypinyin
have no PostgreSQL counterpart); they are written when addresses are loaded
(:mod:`geogrid.db.store`) and back-filled by the migration for rows loaded before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geogrid.address import address_keys
from geogrid.frames import ADDRESS_COMPONENTS

#: Key columns of ``addresses`` and their SQL types.
KEY_COLUMNS = {
    "match_text": "text",
    "street_key": "text",
    "street_keys": "text[]",
    "number_key": "text",
    "compound_key": "text",
    "building_key": "text",
    "unit_key": "text",
    "room_key": "text",
    "township_key": "text",
    "village_key": "text",
    "short_text": "text",
    "short_initials": "text",
    "street_initials": "text",
}


def array_literal(values: Iterable[str]) -> str:
    """A PostgreSQL ``text[]`` literal (every element quoted), for COPY and ``::text[]`` casts.

    Examples
    --------
    >>> array_literal(["人民路", 'a"b'])
    '{"人民路","a\\\\"b"}'
    """
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


def keys_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The key columns for every row of an address frame (``full_text`` + optional components).

    ``street_keys`` comes as a ``text[]`` literal, ready for COPY.

    Examples
    --------
    >>> f = pd.DataFrame({"full_text": ["平江街道鹤市社区鹤市二巷3号"]})
    >>> keys_frame(f)[["street_key", "number_key", "village_key"]].iloc[0].tolist()
    ['鹤市2巷', '3', '鹤市社区']
    """
    present = [c for c in ADDRESS_COMPONENTS if c in frame.columns]
    texts = frame["full_text"].to_numpy() if "full_text" in frame.columns else [""] * len(frame)
    rows = []
    for text, comps in zip(
        texts, frame[present].to_dict("records") if present else [{}] * len(frame), strict=True
    ):
        keys = address_keys(text if isinstance(text, str) else "", comps)
        keys["street_keys"] = array_literal(keys["street_keys"])  # type: ignore[arg-type]
        rows.append(keys)
    return pd.DataFrame(rows, columns=list(KEY_COLUMNS), index=frame.index)


def backfill(conn: Connection, *, batch: int = 5000) -> int:
    """Compute the keys of every address that has none yet; returns the rows updated."""
    columns = ", ".join(["id", "full_text", *ADDRESS_COMPONENTS])
    done = 0
    last_id = 0
    while True:
        rows = (
            conn.execute(
                sa.text(
                    f"SELECT {columns} FROM addresses WHERE match_text IS NULL AND id > :last "
                    "ORDER BY id LIMIT :n"
                ),
                {"last": last_id, "n": batch},
            )
            .mappings()
            .all()
        )
        if not rows:
            return done
        _write(conn, rows)
        done += len(rows)
        last_id = int(rows[-1]["id"])


def _write(conn: Connection, rows: Sequence[Mapping]) -> None:
    frame = pd.DataFrame(rows)
    keys = keys_frame(frame)
    params: dict[str, list] = {"ids": [int(i) for i in frame["id"]]}
    sets = []
    selects = ["unnest(CAST(:ids AS bigint[])) AS id"]
    for name, sql_type in KEY_COLUMNS.items():
        # text[] cannot travel inside an unnest of arrays: send its literal and cast per row.
        values = keys[name].where(keys[name].notna(), None).tolist()
        params[name] = values
        selects.append(f"unnest(CAST(:{name} AS text[])) AS {name}")
        cast = "::text[]" if sql_type == "text[]" else ""
        sets.append(f"{name} = v.{name}{cast}")
    sql = (
        f"UPDATE addresses AS a SET {', '.join(sets)} "
        f"FROM (SELECT {', '.join(selects)}) AS v WHERE a.id = v.id"
    )
    conn.execute(sa.text(sql), params)
