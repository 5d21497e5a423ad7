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

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

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

#: Default minimum ``word_similarity`` of an address match.
MIN_SCORE = 0.5
#: Matches whose score is within this of the best one make the answer ambiguous.
AMBIGUITY_MARGIN = 0.05

# The 34 province-level divisions, full names (short forms are derived below).
_PROVINCES = [
    "北京市",
    "天津市",
    "上海市",
    "重庆市",
    "河北省",
    "山西省",
    "辽宁省",
    "吉林省",
    "黑龙江省",
    "江苏省",
    "浙江省",
    "安徽省",
    "福建省",
    "江西省",
    "山东省",
    "河南省",
    "湖北省",
    "湖南省",
    "广东省",
    "海南省",
    "四川省",
    "贵州省",
    "云南省",
    "陕西省",
    "甘肃省",
    "青海省",
    "台湾省",
    "内蒙古自治区",
    "广西壮族自治区",
    "西藏自治区",
    "宁夏回族自治区",
    "新疆维吾尔自治区",
    "香港特别行政区",
    "澳门特别行政区",
]
_PROVINCE_SHORT = sorted(
    {re.sub(r"(省|市|壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区)$", "", p) for p in _PROVINCES},
    key=len,
    reverse=True,
)
_PROVINCE_RE = re.compile(
    "^(?:" + "|".join(map(re.escape, sorted(_PROVINCES, key=len, reverse=True) + _PROVINCE_SHORT)) + ")"
)
# A prefecture-level city/prefecture/league right after the province (or followed by a county).
_CITY_RE = re.compile(r"^[\u4e00-\u9fff]{2,6}?(?:自治州|地区|盟|市)")
# A county-level unit: district, county, banner or county-level city.
_COUNTY_RE = re.compile(r"^[\u4e00-\u9fff]{1,6}?(?:自治县|自治旗|区|县|旗|市)")
# Whitespace and the punctuation people put between address parts.
_NOISE_RE = re.compile(r"[\s,，、.。;；:：'\"“”‘’()（）\[\]【】<>《》#＃_-]+")


def normalise_address(text: str) -> str:
    """Normalise Chinese address text for matching.

    Full-width characters become half-width (Unicode NFKC: ``３号`` → ``3号``), whitespace and
    separators are removed, and a leading province, prefecture-level city and county are
    stripped, because people write them inconsistently ("江苏苏州姑苏区", "苏州市", none) while the
    part below the county identifies the address.  A city is only stripped after a province or
    when a county follows it, and a county only after a city, so a village called "鹤市" or a
    "工业园区" at the start of the text stays.

    Examples
    --------
    >>> normalise_address("江苏省 苏州市 姑苏区 平江街道 钮家巷３号")
    '平江街道钮家巷3号'
    >>> normalise_address("苏州市姑苏区平江街道钮家巷3号")
    '平江街道钮家巷3号'
    >>> normalise_address("鹤市社区鹤市2巷3号")
    '鹤市社区鹤市2巷3号'
    """
    s = unicodedata.normalize("NFKC", str(text))
    s = _NOISE_RE.sub("", s)
    province = _PROVINCE_RE.match(s)
    rest = s[province.end() :] if province else s
    city = _CITY_RE.match(rest)
    if city and (province or _COUNTY_RE.match(rest[city.end() :])):
        rest = rest[city.end() :]
        county = _COUNTY_RE.match(rest)
        # Keep something to search for: never strip the whole text.
        if county and county.end() < len(rest):
            rest = rest[county.end() :]
    return rest or s


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
    """One standard address matching a query, with its grid (None if in no published grid)."""

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
    division_name: str | None = None

    def to_dict(self) -> dict:
        grid = None
        if self.grid_code is not None:
            grid = {
                "code": self.grid_code,
                "level": self.grid_level,
                "name": self.grid_name,
                "plan_id": self.plan_id,
            }
        return {
            "address_id": self.address_id,
            "full_text": self.full_text,
            "score": round(self.score, 4),
            "lon": self.lon,
            "lat": self.lat,
            "households": self.households,
            "division_code": self.division_code,
            "division_name": self.division_name,
            "grid": grid,
        }


@dataclass(frozen=True)
class AddressLookup:
    """The answer to one address query.

    ``ambiguous`` is True when the best match is not clearly the best: another match scores
    within :data:`AMBIGUITY_MARGIN` of it, or the same address text lies in different
    grids.  ``reason`` then says which; ``matches`` always holds every candidate.
    """

    query: str
    normalised: str
    matches: list[AddressMatch] = field(default_factory=list)
    ambiguous: bool = False
    reason: str | None = None

    @property
    def best(self) -> AddressMatch | None:
        return self.matches[0] if self.matches else None

    def to_dict(self) -> dict:
        best = self.best
        return {
            "query": self.query,
            "normalised": self.normalised,
            "found": best is not None,
            "ambiguous": self.ambiguous,
            "reason": self.reason,
            "grid": best.to_dict()["grid"] if best is not None and not self.ambiguous else None,
            "matches": [m.to_dict() for m in self.matches],
        }


def judge_matches(query: str, normalised: str, matches: list[AddressMatch], margin: float) -> AddressLookup:
    if len(matches) < 2:
        return AddressLookup(query, normalised, matches)
    best = matches[0]
    close = [m for m in matches[1:] if best.score - m.score <= margin]
    same_text_grids = {m.grid_code for m in matches if m.full_text == best.full_text}
    reason = None
    if len(same_text_grids) > 1:
        reason = f"the same address text lies in {len(same_text_grids)} different grids"
    elif close:
        grids = {best.grid_code, *(m.grid_code for m in close)}
        where = f" in {len(grids)} different grids" if len(grids) > 1 else " in the same grid"
        reason = f"{len(close) + 1} addresses score within {margin} of the best{where}"
    return AddressLookup(query, normalised, matches, ambiguous=reason is not None, reason=reason)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def match_addresses(
    cursor, normalised: Sequence[str], *, limit: int, min_score: float
) -> list[list[AddressMatch]]:
    """Run the one-statement address match on a DB-API ``cursor`` (psycopg2) for normalised texts.

    Shared by the lookup endpoints (pooled raw connections) and incident reporting (inside a
    SQLAlchemy transaction), so an address resolves the same way everywhere.
    """
    results: list[list[AddressMatch]] = [[] for _ in normalised]
    # Session setting on a pooled connection: every address query sets it first.
    cursor.execute("SELECT set_config('pg_trgm.word_similarity_threshold', %s, false)", (str(min_score),))
    likes = ["%" + _escape_like(n) + "%" for n in normalised]
    cursor.execute(load_sql("lookup_addresses"), {"texts": normalised, "likes": likes, "k": limit})
    for row in cursor.fetchall():
        (
            index,
            _id,
            source_id,
            full_text,
            households,
            division,
            lon,
            lat,
            score,
            code,
            level,
            name,
            plan,
            division_name,
        ) = row
        results[index].append(
            AddressMatch(
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
                division_name,
            )
        )
    return results


def lookup_addresses(
    pool: RawPool,
    texts: Sequence[str],
    *,
    limit: int = 5,
    min_score: float = MIN_SCORE,
    margin: float = AMBIGUITY_MARGIN,
) -> list[AddressLookup]:
    """Match many address texts against the standard addresses in one statement.

    Each text is normalised (:func:`normalise_address`) and matched through the GIN
    trigram index: the score is 1 when an address contains the text verbatim, else
    pg_trgm's ``word_similarity``.  Up to ``limit`` matches scoring at least ``min_score``
    are returned best first, each with its published grid.

    Parameters
    ----------
    pool
        Connections to the database.
    texts
        Address texts as people type them (full-width digits, spaces, prefixes welcome).
    limit
        Matches kept per text (at least 2, so that ambiguity can be seen).
    min_score
        Minimum word similarity in ``(0, 1]``.
    margin
        Score difference under which two matches make the answer ambiguous.

    Examples
    --------
    >>> [r.best.grid_code for r in lookup_addresses(pool_for(engine), ["鹤市2巷3号1幢"])]  # doctest: +SKIP
    ['320508001001003']
    """
    if not 0.0 < min_score <= 1.0:
        raise GeogridError(f"min_score must be in (0, 1], got {min_score}")
    limit = max(2, int(limit))
    normalised = [normalise_address(t) for t in texts]
    for i, n in enumerate(normalised):
        if not n:
            raise GeogridError(f"address text at index {i} is empty")
    with pool.connection() as conn, conn.cursor() as cur:
        results = match_addresses(cur, normalised, limit=limit, min_score=min_score)
    return [judge_matches(t, n, m, margin) for t, n, m in zip(texts, normalised, results, strict=True)]


def lookup_address(pool: RawPool, text: str, **options) -> AddressLookup:
    """Match one address text; see :func:`lookup_addresses` for the options.

    Examples
    --------
    >>> r = lookup_address(pool_for(engine), "江苏省苏州市姑苏区鹤市2巷3号")   # doctest: +SKIP
    >>> r.ambiguous, r.reason                                               # doctest: +SKIP
    (True, '2 addresses score within 0.05 of the best in 2 different grids')
    """
    return lookup_addresses(pool, [text], **options)[0]
