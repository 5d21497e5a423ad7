"""Which grid is this place in?  Point and address lookups against the published plans.

Every lookup is one SQL statement, so it reads one snapshot: while a plan is being
published (:func:`geogrid.db.plans.publish_plan` swaps plans in one transaction) a
lookup — a batch of 10,000 points included — answers wholly from the old plan or wholly
from the new one.

Point lookups are the field app's hot path: a prepared statement on an autocommit
connection (:mod:`geogrid.db.rawpool`) that returns the finished JSON document, so Python
only passes bytes along.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from geogrid.address import (
    AddressParts,
    normalise_address,
    parse_addresses,
    query_street_keys,
    score_candidate,
)
from geogrid.coords import CHINA_BBOX, check_lnglat, to_wgs84
from geogrid.db.rawpool import RawPool, load_sql
from geogrid.errors import GeogridError, InvalidGeometryError

__all__ = [
    "AddressLookup",
    "AddressMatch",
    "lookup_address",
    "lookup_addresses",
    "lookup_point",
    "lookup_points",
    "normalise_address",
    "swap_hint",
    "wgs84_point",
]

#: Default minimum score of an address match (see :func:`geogrid.address.score_candidate`).
MIN_SCORE = 0.5
#: Matches whose score is within this of the best one, in other grids, make the answer ambiguous.
AMBIGUITY_MARGIN = 0.05
#: Weight of trigram similarity for a query whose street, number or compound finds nothing:
#: such a match always ranks below a parsed one.
SIMILARITY_WEIGHT = 0.8
#: Candidates fetched per query before ranking.
CANDIDATE_CAP = 50


def swap_hint(lon: float, lat: float) -> str | None:
    """A hint when a point outside China would be inside China with lon/lat swapped.

    Examples
    --------
    >>> swap_hint(31.31, 120.62) is not None
    True
    >>> swap_hint(120.62, 31.31) is None
    True
    """

    def inside(x: float, y: float) -> bool:
        return CHINA_BBOX.west < x < CHINA_BBOX.east and CHINA_BBOX.south < y < CHINA_BBOX.north

    if not inside(lon, lat) and inside(lat, lon):
        return f"the pair looks swapped: did you mean lon={lat}, lat={lon}? geogrid takes lon first"
    return None


def wgs84_point(lon: float, lat: float, crs: str = "wgs84") -> tuple[float, float]:
    """Validate a position reported in ``crs`` and return it in WGS-84.

    WGS-84 input is range-checked with plain float comparisons (this runs on every point
    lookup; numpy on scalars costs more than the rest of the request); anything wrong is
    re-checked by :func:`geogrid.coords.check_lnglat` for its detailed message (swapped
    lat/lon, ranges).  GCJ-02/BD-09 go through :func:`geogrid.coords.to_wgs84`.

    Raises
    ------
    InvalidGeometryError
        For non-finite, out-of-range or swapped values, or an unknown ``crs``.

    Examples
    --------
    >>> wgs84_point(120.62, 31.31)
    (120.62, 31.31)
    >>> lon, lat = wgs84_point(120.62, 31.31, "gcj02")
    >>> round(120.62 - lon, 4), round(31.31 - lat, 4)
    (0.0042, -0.0022)
    """
    if crs == "wgs84":
        if math.isfinite(lon) and math.isfinite(lat) and -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0:
            return float(lon), float(lat)
        check_lnglat(lon, lat)
        raise InvalidGeometryError(f"invalid position lon={lon}, lat={lat}")  # pragma: no cover
    point = to_wgs84(lon, lat, crs=crs)
    return float(point.lng), float(point.lat)


def lookup_point(pool: RawPool, lon: float, lat: float) -> str | None:
    """The finest published grid containing a WGS-84 point, as a JSON document (text).

    The document has ``grid`` (code, level, kind, name, households, head, workers,
    parent_grid, plan_id), ``village`` and ``township`` (code, name), ``departments`` (every
    department's grid and unit here, from its active layer: an aligned layer answers the grid
    listing the base grid) and ``link_groups`` (the 联户 here, with their 联户长); ``None`` when
    the point lies in no published grid.

    Parameters
    ----------
    pool
        Connections to the database (:func:`geogrid.db.rawpool.pool_for`).
    lon, lat
        WGS-84 degrees (see :func:`wgs84_point` for other systems).

    Examples
    --------
    >>> import json
    >>> doc = lookup_point(pool_for(engine), 120.62, 31.31)          # doctest: +SKIP
    >>> json.loads(doc)["grid"]["code"]                              # doctest: +SKIP
    '320508001001003'
    """
    row = pool.fetchone_prepared("geogrid_lookup_point", load_sql("lookup_point"), (lon, lat))
    return None if row is None else row[0]


async def lookup_point_async(pool, lon: float, lat: float) -> str | None:
    """:func:`lookup_point` on an ``asyncpg`` pool, for event-loop servers.

    asyncpg prepares the statement once per connection (its statement cache) and the
    coroutine waits for PostgreSQL without holding a thread: measured faster than the
    thread-pool + psycopg2 path on the service (docs/BENCHMARKS.md).

    Examples
    --------
    >>> doc = await lookup_point_async(apool, 120.62, 31.31)          # doctest: +SKIP
    """
    return await pool.fetchval(load_sql("lookup_point"), lon, lat)


def lookup_points(
    pool: RawPool, lon: Sequence[float] | np.ndarray, lat: Sequence[float] | np.ndarray, *, crs: str = "wgs84"
) -> str:
    """Look up many points in one statement; a JSON array (text) in input order.

    Each element is ``{"index", "lon", "lat", "grid"}`` with WGS-84 ``lon``/``lat`` and
    ``grid`` = ``{code, level, kind, name, village_code, township_code, plan_id}`` or null.
    All answers come from one snapshot (never from two plans).

    Raises
    ------
    InvalidGeometryError
        If any position is invalid (the message names the first bad index).

    Examples
    --------
    >>> lookup_points(pool_for(engine), [120.62, 0.0], [31.31, 0.0])    # doctest: +SKIP
    '[{"index" : 0, ... "grid" : {"code" : "320508001001003", ...}}, {"index" : 1, ... "grid" : null}]'
    """
    lons = np.asarray(lon, dtype=float)
    lats = np.asarray(lat, dtype=float)
    if lons.ndim != 1 or lons.shape != lats.shape:
        raise InvalidGeometryError(
            f"lon and lat must be equal-length lists; got {lons.shape} and {lats.shape}"
        )
    point = to_wgs84(lons, lats, crs=crs)
    row = pool.fetchone(
        load_sql("lookup_points"),
        {"lons": np.asarray(point.lng).tolist(), "lats": np.asarray(point.lat).tolist()},
    )
    return row[0] if row else "[]"


@dataclass(frozen=True)
class AddressMatch:
    """One standard address matching a query, with its village, township and grid (None if in
    no published grid)."""

    address_id: str | None
    full_text: str
    score: float
    lon: float
    lat: float
    households: int
    division_code: str | None
    grid_code: str | None
    grid_level: int | None
    grid_name: str | None
    plan_id: int | None
    village_name: str | None = None
    township_code: str | None = None
    township_name: str | None = None

    @property
    def place(self) -> str:
        """What the answer is about: the grid, else the village, else the address itself."""
        return self.grid_code or self.division_code or self.address_id or self.full_text

    @property
    def division_label(self) -> str:
        """The township and village names (平江街道鹤市社区), or the village code."""
        names = "".join(n for n in (self.township_name, self.village_name) if n)
        return names or self.division_code or "?"

    def to_dict(self) -> dict:
        grid = None
        if self.grid_code is not None:
            grid = {
                "code": self.grid_code,
                "level": self.grid_level,
                "name": self.grid_name,
                "plan_id": self.plan_id,
            }
        village = (
            None if self.division_code is None else {"code": self.division_code, "name": self.village_name}
        )
        township = (
            None if self.township_code is None else {"code": self.township_code, "name": self.township_name}
        )
        return {
            "address_id": self.address_id,
            "full_text": self.full_text,
            "score": round(self.score, 4),
            "lon": self.lon,
            "lat": self.lat,
            "households": self.households,
            "division_code": self.division_code,
            "division_name": self.village_name,
            "village": village,
            "township": township,
            "grid": grid,
        }


@dataclass(frozen=True)
class AddressLookup:
    """The answer to one address query.

    ``ambiguous`` is True when the matches scoring within :data:`AMBIGUITY_MARGIN` of the best
    lie in more than one grid (or village, where no plan is published): the text does not say
    which, so no grid is answered.  ``reason`` then names them; ``matches`` always holds every
    such candidate, with its division names.  ``parsed`` holds the query's components.
    """

    query: str
    normalised: str
    matches: list[AddressMatch] = field(default_factory=list)
    ambiguous: bool = False
    reason: str | None = None
    parsed: dict | None = None

    @property
    def best(self) -> AddressMatch | None:
        return self.matches[0] if self.matches else None

    def to_dict(self) -> dict:
        best = self.best
        return {
            "query": self.query,
            "normalised": self.normalised,
            "parsed": self.parsed,
            "found": best is not None,
            "ambiguous": self.ambiguous,
            "reason": self.reason,
            "grid": best.to_dict()["grid"] if best is not None and not self.ambiguous else None,
            "matches": [m.to_dict() for m in self.matches],
        }


def judge_matches(
    query: str, parts: AddressParts, matches: list[AddressMatch], *, limit: int, margin: float
) -> AddressLookup:
    """Order matches best first and decide whether the best one is certain.

    Examples
    --------
    >>> from geogrid.address import parse_address
    >>> def m(grid, score):
    ...     return AddressMatch("a", "人民路1号", score, 0, 0, 1, "320508100201", grid, 3, None, 1)
    >>> judge_matches("人民路1号", parse_address("人民路1号"), [m("g1", 1.0), m("g2", 0.4)], limit=5, margin=0.05).ambiguous
    False
    >>> judge_matches("人民路1号", parse_address("人民路1号"), [m("g1", 1.0), m("g2", 1.0)], limit=5, margin=0.05).ambiguous
    True
    """
    matches = sorted(matches, key=lambda m: (-m.score, m.address_id or "", m.full_text))
    parsed = {k: v for k, v in parts.components().items() if v is not None}
    if not matches:
        return AddressLookup(query, parts.text, [], parsed=parsed)
    best = matches[0]
    tied = [m for m in matches if best.score - m.score <= margin]
    places: dict[str, AddressMatch] = {}
    for m in tied:
        places.setdefault(m.place, m)
    if len(places) < 2:
        return AddressLookup(query, parts.text, matches[:limit], parsed=parsed)
    what = "网格" if all(m.grid_code for m in places.values()) else "村/社区"
    names = "、".join(f"{m.division_label}{m.grid_name or ''}" for m in places.values())
    reason = f"{len(tied)} 个地址同样符合（分值相差不超过 {margin}），分属 {len(places)} 个{what}：{names}"
    return AddressLookup(query, parts.text, matches[: max(limit, len(tied))], True, reason, parsed)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _query_document(parts: AddressParts) -> dict:
    exact, fuzzy = query_street_keys(parts)
    return {
        "number": parts.house_number,
        "exact": exact,
        "fuzzy": fuzzy if parts.house_number is not None else [],
        "compound": parts.compound,
        "text": parts.text,
        "pattern": "%" + _escape_like(parts.text) + "%",
    }


_CANDIDATE_KEYS = (
    "province",
    "city",
    "county",
    "street_key",
    "number_key",
    "compound_key",
    "building_key",
    "unit_key",
    "room_key",
    "township_key",
    "village_key",
)


def _ranked(parts: AddressParts, row: tuple) -> AddressMatch | None:
    parsed, similarity = row[1], row[2]
    _id, source_id, full_text, households, division, lon, lat = row[3:10]
    keys = dict(zip(_CANDIDATE_KEYS, row[10:21], strict=True))
    village_name, township_code, township_name, code, level, name, plan = row[21:28]
    score = score_candidate(parts, keys) if parsed else SIMILARITY_WEIGHT * float(similarity)
    if score is None:
        return None
    return AddressMatch(
        source_id if source_id is not None else str(_id),
        full_text,
        float(score),
        float(lon),
        float(lat),
        int(households),
        division,
        code,
        level,
        name,
        plan,
        village_name,
        township_code,
        township_name,
    )


def match_addresses(
    cursor,
    texts: Sequence[str],
    *,
    limit: int = 5,
    min_score: float = MIN_SCORE,
    margin: float = AMBIGUITY_MARGIN,
) -> list[AddressLookup]:
    """Parse, fetch candidates in one statement on a DB-API ``cursor`` (psycopg2) and rank.

    Shared by the lookup endpoints (pooled raw connections) and incident reporting (inside a
    SQLAlchemy transaction), so an address resolves the same way everywhere.
    """
    parts = parse_addresses(texts)
    for i, p in enumerate(parts):
        if not p.text:
            raise GeogridError(f"address text at index {i} is empty")
    # Session setting on a pooled connection: every address query sets it first.
    threshold = min(1.0, min_score / SIMILARITY_WEIGHT)
    cursor.execute("SELECT set_config('pg_trgm.word_similarity_threshold', %s, false)", (str(threshold),))
    document = json.dumps([_query_document(p) for p in parts], ensure_ascii=False)
    cursor.execute(
        load_sql("lookup_address_candidates"),
        {"queries": document, "cap": CANDIDATE_CAP, "k": max(limit, 10)},
    )
    found: list[list[AddressMatch]] = [[] for _ in parts]
    for row in cursor.fetchall():
        match = _ranked(parts[row[0]], row)
        if match is not None and match.score >= min_score:
            found[row[0]].append(match)
    return [
        judge_matches(t, p, m, limit=limit, margin=margin)
        for t, p, m in zip(texts, parts, found, strict=True)
    ]


def lookup_addresses(
    pool: RawPool,
    texts: Sequence[str],
    *,
    limit: int = 5,
    min_score: float = MIN_SCORE,
    margin: float = AMBIGUITY_MARGIN,
) -> list[AddressLookup]:
    """Match many address texts against the standard addresses in one statement.

    Each text is normalised and parsed (:func:`geogrid.address.parse_address`: traditional
    characters, numerals either way, full-width digits, synonyms, province/city/county
    prefixes); candidates sharing its street (or a street one character away) and house
    number, or its compound, are ranked by :func:`geogrid.address.score_candidate`.  Text
    that does not parse falls back to trigram similarity, weighted below any parsed match.

    Parameters
    ----------
    pool
        Connections to the database.
    texts
        Address texts as people type them.
    limit
        Matches kept per text (an ambiguous answer keeps every tied candidate).
    min_score
        Minimum score in ``(0, 1]``.
    margin
        Score difference under which matches in different grids make the answer ambiguous.

    Examples
    --------
    >>> [r.best.grid_code for r in lookup_addresses(pool_for(engine), ["鹤市2巷3号1幢"])]  # doctest: +SKIP
    ['320508001001003']
    """
    if not 0.0 < min_score <= 1.0:
        raise GeogridError(f"min_score must be in (0, 1], got {min_score}")
    with pool.connection() as conn, conn.cursor() as cur:
        return match_addresses(cur, texts, limit=max(1, int(limit)), min_score=min_score, margin=margin)


def lookup_address(pool: RawPool, text: str, **options) -> AddressLookup:
    """Match one address text; see :func:`lookup_addresses` for the options.

    Examples
    --------
    >>> r = lookup_address(pool_for(engine), "人民路12号")                   # doctest: +SKIP
    >>> r.ambiguous, [m.division_label for m in r.matches]                  # doctest: +SKIP
    (True, ['枫桥镇枫门村', '和平镇新庄村'])
    """
    return lookup_addresses(pool, [text], **options)[0]


#: Most suggestions :func:`suggest_addresses` returns.
MAX_SUGGESTIONS = 10


def _division(code: str | None, name: str | None) -> dict | None:
    return None if code is None else {"code": code, "name": name}


def suggest_addresses(pool: RawPool, text: str, *, limit: int = MAX_SUGGESTIONS) -> dict:
    """Type-ahead for the field app: streets, then standard addresses, starting with ``text``.

    ``text`` is normalised like a lookup (traditional characters, numerals, full-width...);
    a leading township or village narrows the suggestions to it; pinyin initials (``rml`` for
    人民路) match too.  Streets come one per village, with the township and village names.

    Returns
    -------
    dict
        ``{"query", "suggestions": [{"kind": "street"|"address", "text", "village", "township",
        "addresses" (streets), "address_id", "full_text" (addresses)}]}``, at most ``limit``
        (≤ :data:`MAX_SUGGESTIONS`).

    Examples
    --------
    >>> [s["text"] for s in suggest_addresses(pool_for(engine), "rml")["suggestions"]][:2]  # doctest: +SKIP
    ['人民路', '人民路']
    """
    from geogrid.address import suggest_keys

    if not text.strip():
        raise GeogridError("q is empty: type the start of a street or address")
    limit = max(1, min(int(limit), MAX_SUGGESTIONS))
    keys = suggest_keys(text)
    if not (keys["prefix"] or keys["initials"] or keys["township"] or keys["village"]):
        raise GeogridError(f"q {text!r} has nothing to match once normalised")
    params = {
        "prefix": None if keys["prefix"] is None else _escape_like(keys["prefix"]) + "%",
        "initials": None if keys["initials"] is None else _escape_like(keys["initials"]) + "%",
        "township": keys["township"],
        "village": keys["village"],
        "n": limit,
    }
    with pool.connection() as conn, conn.cursor() as cur:
        cur.execute(load_sql("lookup_suggest"), params)
        rows = cur.fetchall()
    suggestions = []
    for kind, shown, count, address_id, full_text, village, village_name, town, town_name in rows[:limit]:
        item = {"kind": kind, "text": shown}
        if kind == "street":
            item["addresses"] = count
        else:
            item |= {"address_id": address_id, "full_text": full_text}
        item |= {"village": _division(village, village_name), "township": _division(town, town_name)}
        suggestions.append(item)
    return {"query": text, "suggestions": suggestions}
