"""Seeded synthetic counties for tests, benchmarks and demos.

No package ships Chinese buildings or streets, so scale tests run on a county made up
here: townships (街道/镇) → villages and communities (社区/村) → street network →
buildings → standard addresses with household counts.  Everything is generated in a
local metric CRS and returned in EPSG:4326 following the frame schemas of
:mod:`geogrid.frames`.

Guarantees the partition engine relies on:

- townships tile the county and villages tile their township (Voronoi cells clipped to
  the parent, so shared edges are identical up to floating point);
- every division code is a valid 12-digit statistical code and nests by prefix
  (街道 001-099, 镇 100-199; 社区 001-199, 村 200-399, as in the statistical scheme);
- urban villages hold about 1,500-6,000 households in apartment buildings of 20-120
  households, rural villages about 300-1,500 in detached houses of 1-3 households;
- no single address exceeds :data:`MAX_ADDRESS_HOUSEHOLDS` for its kind, and street
  blocks stay small (an urban block holds at most four apartment buildings);
- the same arguments give identical frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon

from geogrid.crs import local_metric_crs
from geogrid.frames import ADDRESS_COMPONENTS, STREET_CLASS_WIDTH_M, WGS84

__all__ = [
    "MAX_ADDRESS_HOUSEHOLDS",
    "VILLAGE_HOUSEHOLDS",
    "SyntheticCounty",
    "make_county",
    "make_village",
]

#: Upper bound of households at one address, by village kind.
MAX_ADDRESS_HOUSEHOLDS = {"urban": 120, "rural": 3}
#: Typical households of a village, by kind (inclusive range aimed at by :func:`make_county`).
VILLAGE_HOUSEHOLDS = {"urban": (1500, 6000), "rural": (300, 1500)}

# Households per km² of built-up village area: dense apartments vs. scattered houses.
_DENSITY_PER_KM2 = {"urban": 9000.0, "rural": 350.0}
_MEAN_VILLAGE = {"urban": 3500, "rural": 900}
_VILLAGES_PER_TOWNSHIP = {"urban": 6, "rural": 10}
# Street grid spacing (m) and building slots per block side.
_BLOCK_M = {"urban": 120.0, "rural": 160.0}
_SLOTS_PER_SIDE = {"urban": 2, "rural": 4}
# Largest footprint a slot may receive (width, depth), used to keep buildings off streets.
_MAX_FOOTPRINT_M = {"urban": (48.0, 18.0), "rural": (14.0, 12.0)}
_DWELLING_M2 = 90.0

_PROVINCES = {
    "11": ("北京市", (116.40, 39.90)),
    "12": ("天津市", (117.20, 39.13)),
    "13": ("河北省", (114.51, 38.04)),
    "14": ("山西省", (112.55, 37.87)),
    "15": ("内蒙古自治区", (111.75, 40.84)),
    "21": ("辽宁省", (123.43, 41.80)),
    "22": ("吉林省", (125.32, 43.82)),
    "23": ("黑龙江省", (126.53, 45.80)),
    "31": ("上海市", (121.47, 31.23)),
    "32": ("江苏省", (118.80, 32.06)),
    "33": ("浙江省", (120.16, 30.27)),
    "34": ("安徽省", (117.23, 31.82)),
    "35": ("福建省", (119.30, 26.08)),
    "36": ("江西省", (115.86, 28.68)),
    "37": ("山东省", (117.12, 36.65)),
    "41": ("河南省", (113.63, 34.75)),
    "42": ("湖北省", (114.31, 30.59)),
    "43": ("湖南省", (112.94, 28.23)),
    "44": ("广东省", (113.26, 23.13)),
    "45": ("广西壮族自治区", (108.37, 22.82)),
    "46": ("海南省", (110.35, 20.02)),
    "50": ("重庆市", (106.55, 29.56)),
    "51": ("四川省", (104.07, 30.57)),
    "52": ("贵州省", (106.63, 26.65)),
    "53": ("云南省", (102.83, 24.88)),
    "54": ("西藏自治区", (91.12, 29.65)),
    "61": ("陕西省", (108.94, 34.34)),
    "62": ("甘肃省", (103.83, 36.06)),
    "63": ("青海省", (101.78, 36.62)),
    "64": ("宁夏回族自治区", (106.23, 38.49)),
    "65": ("新疆维吾尔自治区", (87.62, 43.83)),
}
# (city, county, centre) of a few real county codes; others get illustrative names.
_COUNTIES = {
    "320508": ("苏州市", "姑苏区", (120.62, 31.31)),
    "320505": ("苏州市", "虎丘区", (120.52, 31.33)),
    "330106": ("杭州市", "西湖区", (120.13, 30.26)),
    "110105": ("北京市", "朝阳区", (116.44, 39.92)),
}

_PLACE_WORDS = [
    "平江",
    "沧浪",
    "金阊",
    "桃园",
    "枫桥",
    "横塘",
    "双塔",
    "葑门",
    "娄门",
    "胥江",
    "吴门",
    "虎丘",
    "白洋",
    "石路",
    "观前",
    "道前",
    "南门",
    "北寺",
    "留园",
    "西园",
    "寒山",
    "盘门",
    "齐门",
    "阊门",
    "相门",
    "觅渡",
    "友新",
    "彩香",
    "三香",
    "养育",
    "钮家",
    "锦帆",
    "书院",
    "杨枝",
    "梅村",
    "竹辉",
    "东汇",
    "新庄",
    "荷塘",
    "青石",
    "柳岸",
    "杏坛",
    "稻香",
    "麦浪",
    "凤凰",
    "龙池",
    "鹤市",
    "鹿城",
    "金鸡",
    "银杏",
    "玉泉",
    "清溪",
    "秀水",
    "长桥",
    "永丰",
    "富民",
    "安乐",
    "太平",
    "兴隆",
    "吉祥",
    "和顺",
    "丰收",
    "旺山",
    "花溪",
    "湖滨",
    "江村",
    "望亭",
    "通安",
    "东渚",
    "镇湖",
    "光福",
    "藏书",
]
_STREET_WORDS = [
    "人民",
    "解放",
    "中山",
    "建设",
    "和平",
    "新华",
    "长江",
    "黄河",
    "东风",
    "胜利",
    "文化",
    "友谊",
    "幸福",
    "光明",
    "团结",
    "朝阳",
    "青年",
    "学府",
    "迎宾",
    "滨河",
    "环城",
    "工业",
    "振兴",
    "兴业",
    "永安",
    "干将",
    "十全",
    "景德",
    "凤凰",
    "金门",
    "广济",
    "桐泾",
    "三香",
    "劳动",
    "南环",
    "北环",
    "东环",
    "西环",
    "苏州",
    "姑苏",
    "白塔",
    "临顿",
    "仓街",
    "平门",
    "养蚕",
    "观音",
    "宝带",
    "吴中",
    "运河",
    "虹桥",
    "彩云",
    "紫金",
    "翠竹",
    "玉兰",
    "海棠",
    "丹桂",
    "石榴",
    "枫林",
    "银河",
    "金山",
    "碧波",
    "清风",
    "明月",
    "春晖",
    "秋实",
    "嘉禾",
    "瑞丰",
    "锦绣",
    "华庭",
    "新民",
    "育才",
    "园林",
]
# Street names every town has (人民路, 中山路…): each township names its first through streets
# from this pool, in its own order, so the same name + number exists in several townships.
_COMMON_STREETS = (
    "人民路",
    "中山路",
    "解放路",
    "建设路",
    "和平路",
    "新华街",
    "胜利路",
    "文化路",
    "光明街",
    "幸福路",
    "友谊路",
    "团结路",
    "青年路",
    "东风路",
    "长江路",
    "工业路",
    "学府路",
    "迎宾路",
    "健康路",
    "振兴街",
)
# Residential compounds (小区) of urban blocks: word + kind.
_COMPOUND_WORDS = (
    "阳光",
    "金色",
    "幸福",
    "锦绣",
    "翠湖",
    "滨江",
    "香樟",
    "梧桐",
    "紫薇",
    "丽景",
    "盛世",
    "东方",
    "绿地",
    "海棠",
    "兰亭",
    "明珠",
    "御景",
    "康乐",
    "怡和",
    "春江",
)
_COMPOUND_KINDS = ("花园", "小区", "苑", "家园", "公寓", "雅居")
# Households per floor of one stairway unit (单元) of an apartment building.
_HOUSEHOLDS_PER_FLOOR = 2
_CN_DIGITS = "零一二三四五六七八九十"


@dataclass
class SyntheticCounty:
    """A generated county (or single village): four EPSG:4326 frames.

    Attributes
    ----------
    divisions
        ``code``, ``name``, ``level``, ``parent_code``, ``kind``, ``households`` (sum of its
        addresses), geometry.  Townships and villages (:func:`make_village`: the village only).
    streets
        ``street_id``, ``name``, ``street_class``, geometry (LineString).
    buildings
        ``building_id``, ``village_code``, ``use``, ``levels``, ``height``, ``households``, geometry.
    addresses
        ``address_id``, ``households``, ``full_text``, the :data:`geogrid.frames.ADDRESS_COMPONENTS`,
        ``village_code``, ``building_id``, geometry (Point at the building).
    """

    divisions: gpd.GeoDataFrame
    streets: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    addresses: gpd.GeoDataFrame
    metric_crs: object = field(default=None, repr=False)

    @property
    def villages(self) -> gpd.GeoDataFrame:
        """The village-level rows of :attr:`divisions`."""
        return self.divisions[self.divisions["level"] == "village"]

    @property
    def townships(self) -> gpd.GeoDataFrame:
        """The township-level rows of :attr:`divisions`."""
        return self.divisions[self.divisions["level"] == "township"]


# --------------------------------------------------------------------------- public API


def make_county(
    *,
    households: int = 100_000,
    seed: int = 0,
    county_code: str = "320508",
    urban_share: float = 0.4,
    center: tuple[float, float] | None = None,
) -> SyntheticCounty:
    """Generate a seeded synthetic county with about ``households`` households (exactly that many).

    Parameters
    ----------
    households
        Total households of the county; the generated addresses sum to exactly this.
    seed
        Seed of the random generator: the same arguments give identical frames.
    county_code
        6-digit county code (GB/T 2260).  Known codes (e.g. ``"320508"`` 姑苏区) get their real
        names and location; others get their province's capital area and illustrative names.
    urban_share
        Share of households living in urban communities (街道/社区), in ``[0, 1]``.
    center
        ``(lon, lat)`` of the county centre; default from ``county_code``.

    Returns
    -------
    SyntheticCounty

    Examples
    --------
    >>> county = make_county(households=6000, seed=1)
    >>> int(county.addresses["households"].sum())
    6000
    >>> sorted(county.divisions["level"].unique())
    ['township', 'village']
    """
    county_code = _check_county_code(county_code)
    if households < 1:
        raise ValueError(f"households must be >= 1, got {households}")
    if not 0.0 <= urban_share <= 1.0:
        raise ValueError(f"urban_share must be in [0, 1], got {urban_share}")
    rng = np.random.default_rng(seed)
    names = _Names(rng)
    province, city, county_name, default_center = _place(county_code)
    lon, lat = center or default_center
    metric = local_metric_crs(lon, lat)

    h_urban = round(households * urban_share)
    parts = {"urban": h_urban, "rural": households - h_urban}
    targets = {kind: _village_targets(total, kind, rng) for kind, total in parts.items()}
    area_m2 = {kind: parts[kind] / _DENSITY_PER_KM2[kind] * 1e6 for kind in parts}

    total_area = area_m2["urban"] + area_m2["rural"]
    seeds, kinds, village_cells, county_poly = _layout({k: len(targets[k]) for k in targets}, area_m2, rng)

    division_rows: list[dict] = []
    village_plans: list[_Village] = []
    township_seq = {"urban": 1, "rural": 100}
    village_seq_start = {"urban": 1, "rural": 200}
    for kind in ("urban", "rural"):
        members = np.flatnonzero(kinds == kind)
        if len(members) == 0:
            continue
        n_town = min(len(members), max(1, math.ceil(len(members) / _VILLAGES_PER_TOWNSHIP[kind])))
        groups = _township_groups(seeds[members], village_cells[members], n_town)
        vt = targets[kind]
        k = 0
        for group in groups:
            t_code = f"{county_code}{township_seq[kind]:03d}000"
            township_seq[kind] += 1
            t_name = names.place() + ("街道" if kind == "urban" else "镇")
            # Number villages north to south, then west to east.
            order = sorted(group, key=lambda m: (-round(seeds[members[m], 1], -1), seeds[members[m], 0]))
            for j, m in enumerate(order):
                stem = names.place()
                v_code = f"{t_code[:9]}{village_seq_start[kind] + j:03d}"
                v_name = stem + ("社区" if kind == "urban" else "村")
                poly = village_cells[members[m]]
                village_plans.append(_Village(v_code, v_name, stem, kind, int(vt[k]), poly, t_name))
                k += 1
            town_poly = shapely.union_all([village_cells[members[m]] for m in group])
            division_rows.append(
                {
                    "code": t_code,
                    "name": t_name,
                    "level": "township",
                    "parent_code": f"{county_code}000000",
                    "kind": kind,
                    "geometry": town_poly,
                }
            )

    arterial_lines = _boundary_streets(
        [r["geometry"] for r in division_rows], [v.polygon for v in village_plans], county_poly, rng
    )
    streets = _Streets(names)
    for geom, cls in arterial_lines:
        streets.add(geom, cls)
    # Two arterials cross the county through the urban core.
    radius = math.sqrt(total_area / math.pi) * 3.0
    for angle in rng.uniform(0, math.pi, 2):
        dx, dy = math.cos(angle) * radius, math.sin(angle) * radius
        line = shapely.LineString([(-dx, -dy), (dx, dy)]).intersection(county_poly)
        streets.add(line, "arterial")

    built = _populate(village_plans, streets, rng)
    context = {"province": province, "city": city, "county": county_name}
    return _assemble(division_rows, village_plans, streets, built, context, metric)


def make_village(
    *,
    households: int,
    kind: str = "urban",
    seed: int = 0,
    village_code: str = "320508001001",
    center: tuple[float, float] | None = None,
) -> SyntheticCounty:
    """Generate one seeded village or community with exactly ``households`` households.

    Parameters
    ----------
    households
        Total households of the village (sum over its addresses).
    kind
        ``"urban"`` (community of apartment buildings, 20-120 households each) or ``"rural"``
        (village of detached houses, 1-3 households each).
    seed
        Seed of the random generator.
    village_code
        12-digit code of the village; its first 6 digits choose names and location.
    center
        ``(lon, lat)`` of the village centre; default from the county code.

    Returns
    -------
    SyntheticCounty
        ``divisions`` holds the single village row.

    Examples
    --------
    >>> v = make_village(households=800, kind="rural", seed=3, village_code="320508100201")
    >>> int(v.addresses["households"].sum()), int(v.addresses["households"].max()) <= 3
    (800, True)
    """
    if kind not in ("urban", "rural"):
        raise ValueError(f"kind must be 'urban' or 'rural', got {kind!r}")
    if households < 1:
        raise ValueError(f"households must be >= 1, got {households}")
    code = str(village_code)
    if len(code) != 12 or not code.isdigit() or code.endswith("000"):
        raise ValueError(f"village_code must be a 12-digit village code, got {village_code!r}")
    county_code = _check_county_code(code[:6])
    rng = np.random.default_rng(seed)
    names = _Names(rng)
    province, city, county_name, default_center = _place(county_code)
    lon, lat = center or default_center
    metric = local_metric_crs(lon, lat)

    # A tiny village still gets a few blocks, so its houses have room between streets.
    area = max(households / _DENSITY_PER_KM2[kind] * 1e6, (3 * _BLOCK_M[kind]) ** 2)
    poly = _scale_to_area(_blob(Point(0, 0), math.sqrt(area / math.pi), rng, wobble=0.2), area)
    stem = names.place()
    township = names.place() + ("街道" if kind == "urban" else "镇")
    plan = _Village(
        code, stem + ("社区" if kind == "urban" else "村"), stem, kind, households, poly, township
    )
    streets = _Streets(names)
    if kind == "urban":
        angle = rng.uniform(0, math.pi)
        r = math.sqrt(area / math.pi) * 2
        line = shapely.LineString(
            [(-r * math.cos(angle), -r * math.sin(angle)), (r * math.cos(angle), r * math.sin(angle))]
        )
        streets.add(line.intersection(poly), "arterial")
    built = _populate([plan], streets, rng)
    row = {
        "code": code,
        "name": plan.name,
        "level": "village",
        "parent_code": f"{code[:9]}000",
        "kind": kind,
        "geometry": poly,
    }
    context = {"province": province, "city": city, "county": county_name}
    result = _assemble([], [plan], streets, built, context, metric)
    result.divisions = result.divisions[result.divisions["code"] == row["code"]].reset_index(drop=True)
    return result


# --------------------------------------------------------------------------- layout


def hotspot_points(
    n: int,
    *,
    rng: np.random.Generator,
    bbox: tuple[float, float, float, float] = (120.45, 31.15, 120.85, 31.50),
    hotspots: int = 300,
    spread_deg: float = 0.01,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` lon/lat points clustered around ``hotspots`` random centres in ``bbox`` (a city's
    worth of incident reports for heatmap benchmarks); draws from ``rng`` in a fixed order.

    Examples
    --------
    >>> lon, lat = hotspot_points(1000, rng=np.random.default_rng(0))
    >>> lon.shape, bool(120.3 < lon.mean() < 121.0)
    ((1000,), True)
    """
    west, south, east, north = bbox
    centres_lon = rng.uniform(west, east, hotspots)
    centres_lat = rng.uniform(south, north, hotspots)
    which = rng.integers(0, hotspots, n)
    lon = centres_lon[which] + rng.normal(0, spread_deg, n)
    lat = centres_lat[which] + rng.normal(0, spread_deg, n)
    return lon, lat


def make_roster(
    codes: Sequence[str],
    *,
    seed: int = 0,
    workers: int = 2,
    roles: Sequence[str] = (),
    centres: Sequence[str] = (),
    departments: Sequence[str] = (),
) -> pd.DataFrame:
    """A seeded synthetic staff roster, as :func:`geogrid.staff.read_roster` returns it.

    Every grid code gets a 网格长 (grid head) and ``workers`` 专职网格员, plus one person in each
    of ``roles`` (role codes of the role set, e.g. ``"grid_police"``; ``"link_leader"`` only on
    17-digit codes); every centre (12-digit division code) gets a 综治中心调度员 and every
    department code a 部门联络员.  Phones are 11-digit mobile numbers.

    Examples
    --------
    >>> roster = make_roster(["320508019044001"], seed=1, roles=["grid_police"], centres=["320508019000"])
    >>> len(roster["workers"].iloc[0]), len(roster["head_phone"].iloc[0])
    (2, 11)
    >>> [p["role"] for p in roster["people"].iloc[0]], roster["post"].tolist()
    (['grid_head', 'full_time_worker', 'full_time_worker', 'grid_police'], ['grid', 'division'])
    """
    from geogrid.staff import HEAD_ROLE, WORKER_ROLES, roster_frame

    rng = np.random.default_rng(seed)
    surnames = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程")
    given = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国红梅玉兰志文斌")

    def person(role: str) -> dict[str, str]:
        name = rng.choice(surnames) + "".join(rng.choice(given, size=int(rng.integers(1, 3))))
        phone = "1" + str(rng.choice([3, 5, 7, 8, 9])) + "".join(map(str, rng.integers(0, 10, 9)))
        return {"role": role, "name": str(name), "phone": phone}

    posts = []
    for code in codes:
        people = [person(HEAD_ROLE)] + [person(WORKER_ROLES[0]) for _ in range(workers)]
        people += [person(r) for r in roles if r != "link_leader" or len(code) == 17]
        posts.append(("grid" if len(code) == 15 else "link_group", code, people))
    posts += [("division", code, [person("centre_dispatcher")]) for code in centres]
    posts += [("department", code, [person("department_liaison")]) for code in departments]
    present = [HEAD_ROLE, WORKER_ROLES[0], *roles]
    present += ["centre_dispatcher"] if centres else []
    present += ["department_liaison"] if departments else []
    return roster_frame(posts, roles=present)


def make_incidents(
    addresses: gpd.GeoDataFrame,
    *,
    n: int,
    categories: list[str] | tuple[str, ...],
    seed: int = 0,
    end: pd.Timestamp | None = None,
    days: int = 90,
    jitter_m: float = 30.0,
) -> pd.DataFrame:
    """Seeded synthetic incident reports near the addresses (more where more households live).

    Returns a frame with ``lon``, ``lat`` (WGS-84), ``category`` (drawn from ``categories``)
    and ``created_at`` (timezone-aware, uniform over the ``days`` before ``end``), the columns
    :func:`geogrid.db.incidents.import_incidents` loads.

    Examples
    --------
    >>> village = make_village(households=400, kind="rural", seed=1)
    >>> reports = make_incidents(village.addresses, n=50, categories=["HW01"], seed=2)
    >>> len(reports), reports["category"].unique().tolist()
    (50, ['HW01'])
    """
    if n < 0 or not categories:
        raise ValueError("n must be >= 0 and categories non-empty")
    rng = np.random.default_rng(seed)
    weights = addresses["households"].to_numpy(dtype=float) + 1.0
    pick = rng.choice(len(addresses), size=n, p=weights / weights.sum())
    points = addresses.geometry.values[pick]
    # ~30 m of scatter around the address: metres to degrees at this latitude.
    lat0 = float(np.mean(shapely.get_y(points))) if n else 0.0
    dlat = rng.normal(0.0, jitter_m, n) / 111_320.0
    dlon = rng.normal(0.0, jitter_m, n) / (111_320.0 * max(math.cos(math.radians(lat0)), 0.1))
    end = end if end is not None else pd.Timestamp.now(tz="UTC").floor("s")
    seconds = rng.integers(0, days * 24 * 3600, n)
    return pd.DataFrame(
        {
            "lon": shapely.get_x(points) + dlon,
            "lat": shapely.get_y(points) + dlat,
            "category": np.asarray(categories, dtype=object)[rng.integers(0, len(categories), n)],
            "created_at": end - pd.to_timedelta(seconds, unit="s"),
        }
    )


@dataclass
class _Village:
    code: str
    name: str
    stem: str
    kind: str
    target: int
    polygon: Polygon | MultiPolygon
    township_name: str


class _Names:
    """Chinese place, street and compound names drawn from fixed pools.

    Place and arterial names are unique in the county; through streets take the common names
    (:data:`_COMMON_STREETS`) once per township, so 人民路 recurs in every town.  Names come from
    a generator spawned from the county's (spawning leaves the county's stream untouched, so
    layouts do not depend on naming).
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._places = list(rng.permutation(_PLACE_WORDS))
        self._used: set[str] = set(_COMMON_STREETS)
        self._street_words = list(rng.permutation(_STREET_WORDS))
        self._street_i = 0
        self._name_rng = np.random.default_rng(rng.bit_generator.seed_seq.spawn(1)[0])  # type: ignore[attr-defined]
        self._common: dict[str, list[str]] = {}

    def common_streets(self, township: str) -> list[str]:
        """The common street names still free in ``township`` (in the township's own order)."""
        if township not in self._common:
            self._common[township] = [str(n) for n in self._name_rng.permutation(_COMMON_STREETS)]
        return self._common[township]

    def compounds(self, n: int) -> list[str]:
        """``n`` distinct compound names (阳光花园, 梧桐苑…) for one village."""
        combos = [w + k for w in _COMPOUND_WORDS for k in _COMPOUND_KINDS]
        order = [combos[i] for i in self._name_rng.permutation(len(combos))]
        return [
            order[i % len(order)] + ("" if i < len(order) else f"{i // len(order) + 1}期") for i in range(n)
        ]

    def place(self) -> str:
        while True:
            if self._places:
                word = self._places.pop()
            else:  # pool exhausted: combine two words' first characters
                a, b = self._rng.choice(len(_PLACE_WORDS), 2, replace=False)
                word = _PLACE_WORDS[a][0] + _PLACE_WORDS[b][1]
            if word not in self._used:
                self._used.add(word)
                return word

    def street(self, street_class: str) -> str:
        suffixes = (
            ("大道", "路", "东路", "西路", "南路", "北路", "中路")
            if street_class == "arterial"
            else ("街", "路", "大街", "东街", "西街", "南街", "北街")
        )
        while True:
            i = self._street_i
            self._street_i += 1
            word = self._street_words[i % len(self._street_words)]
            cycle = i // len(self._street_words)
            suffix = suffixes[cycle % len(suffixes)]
            name = word + suffix if cycle < len(suffixes) else f"{word}{cycle}{suffix}"
            if name not in self._used:
                self._used.add(name)
                return name


class _Streets:
    """Street lines collected in the metric CRS (exploded to LineStrings)."""

    def __init__(self, names: _Names) -> None:
        self.names = names
        self.geoms: list = []
        self.classes: list[str] = []
        self.labels: list[str] = []

    def add(self, geom, street_class: str, name: str | None = None) -> None:
        parts = [
            g
            for g in shapely.get_parts(
                shapely.line_merge(geom) if geom.geom_type == "MultiLineString" else geom
            )
            if g.geom_type == "LineString" and g.length > 1.0
        ]
        if not parts:
            return
        label = name or self.names.street(street_class)
        for part in parts:
            self.geoms.append(part)
            self.classes.append(street_class)
            self.labels.append(label)

    def extend(self, other: _Streets) -> None:
        self.geoms.extend(other.geoms)
        self.classes.extend(other.classes)
        self.labels.extend(other.labels)


def _check_county_code(code: str) -> str:
    code = str(code)
    if len(code) != 6 or not code.isdigit() or code[:2] not in _PROVINCES or code.endswith("00"):
        raise ValueError(f"county_code must be a 6-digit county code such as '320508', got {code!r}")
    return code


def _place(county_code: str) -> tuple[str, str, str, tuple[float, float]]:
    province, capital = _PROVINCES[county_code[:2]]
    if county_code in _COUNTIES:
        city, county, centre = _COUNTIES[county_code]
        return province, city, county, centre
    # Illustrative names that still tell the counties of a synthetic province apart (示范七十一市示范三县).
    city = province if province.endswith("市") else f"示范{_cn_number(int(county_code[2:4]))}市"
    return province, city, f"示范{_cn_number(int(county_code[4:6]))}县", capital


def _village_targets(total: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Household targets per village, each within the kind's range when the total allows it."""
    if total <= 0:
        return np.zeros(0, dtype=np.int64)
    lo, hi = VILLAGE_HOUSEHOLDS[kind]
    n = round(total / _MEAN_VILLAGE[kind])
    n = int(min(max(n, math.ceil(total / hi), 1), max(total // lo, 1)))
    weights = rng.uniform(0.7, 1.3, n)
    t = np.floor(total * weights / weights.sum()).astype(np.int64)
    t[: total - int(t.sum())] += 1  # remainder
    return _fix_total(t, total, lo if total >= lo * n else 1, hi if total <= hi * n else total, rng)


def _fix_total(values: np.ndarray, total: int, lo: int, hi: int, rng: np.random.Generator) -> np.ndarray:
    """Adjust integer ``values`` within ``[lo, hi]`` so they sum to ``total`` (when feasible)."""
    v = np.clip(values.astype(np.int64), lo, hi)
    order = rng.permutation(len(v))
    for _ in range(200):
        diff = total - int(v.sum())
        if diff == 0:
            break
        room = (hi - v) if diff > 0 else (v - lo)
        idx = order[room[order] > 0]
        if len(idx) == 0:
            break
        step = max(1, abs(diff) // len(idx))
        change = np.minimum(room[idx], step)
        cum = np.cumsum(change)
        take = cum <= abs(diff)
        if not take.any():
            take[0] = True
            change[0] = abs(diff)
        v[idx[take]] += np.sign(diff) * change[take]
    return v


def _blob(centre: Point, radius: float, rng: np.random.Generator, *, wobble: float) -> Polygon:
    """A smooth irregular polygon around ``centre`` (low-frequency radial noise)."""
    theta = np.linspace(0, 2 * math.pi, 72, endpoint=False)
    r = np.ones_like(theta)
    for k in (2, 3, 5):
        r += wobble / k * rng.uniform(0.5, 1.0) * np.cos(k * theta + rng.uniform(0, 2 * math.pi))
    coords = np.column_stack([centre.x + radius * r * np.cos(theta), centre.y + radius * r * np.sin(theta)])
    return Polygon(coords)


def _scale_to_area(poly: Polygon, area: float) -> Polygon:
    factor = math.sqrt(area / poly.area)
    return shapely.affinity.scale(poly, factor, factor, origin=(0, 0))


def _lattice(spacing: float, radius: float, rng: np.random.Generator) -> np.ndarray:
    """Jittered hexagonal lattice points within ``radius`` of the origin, nearest first."""
    n = int(radius / spacing) + 2
    i, j = np.meshgrid(np.arange(-n, n + 1), np.arange(-n, n + 1), indexing="ij")
    x = (i + 0.5 * (j % 2)) * spacing
    y = j * spacing * math.sqrt(3) / 2
    pts = np.column_stack([x.ravel(), y.ravel()])
    pts = pts[np.hypot(pts[:, 0], pts[:, 1]) <= radius]
    pts = pts + rng.uniform(-0.22, 0.22, pts.shape) * spacing
    return pts[np.argsort(np.hypot(pts[:, 0], pts[:, 1]), kind="stable")]


def _layout(counts: dict[str, int], area_m2: dict[str, float], rng: np.random.Generator):
    """Village cells from ONE Voronoi diagram: dense urban seeds in the core, rural seeds around.

    Every village is a whole cell of the same diagram, so neighbours share identical vertices and
    the tiling is exact; a ring of outside seeds bounds the cells, so nothing is clipped.
    Returns (seeds, kinds, cells, county polygon), all indexed alike.
    """
    seeds: list[np.ndarray] = []
    kinds: list[str] = []
    inner = 0.0
    spacing = 1.0
    for kind in ("urban", "rural"):
        n = counts[kind]
        if n == 0:
            continue
        cell_area = area_m2[kind] / n
        spacing = math.sqrt(cell_area * 2 / math.sqrt(3))  # hexagon area = sqrt(3)/2 * spacing²
        pts = _lattice(spacing, inner + spacing * (math.sqrt(n) + 3), rng)
        pts = pts[np.hypot(pts[:, 0], pts[:, 1]) > inner + (0.5 * spacing if inner else 0.0)]
        seeds.append(pts[:n])
        kinds += [kind] * n
        inner = float(np.hypot(pts[n - 1, 0], pts[n - 1, 1]))
    inside = np.concatenate(seeds)
    # Outside seeds one to two lattice steps beyond the last village bound the outer cells.
    ring = _lattice(spacing, inner + 2.5 * spacing, rng)
    d = np.hypot(ring[:, 0], ring[:, 1])
    outside = ring[d > inner + 0.6 * spacing]
    points = np.concatenate([inside, outside])
    extent = shapely.box(*(points.min(axis=0) - 10 * spacing), *(points.max(axis=0) + 10 * spacing))
    diagram = shapely.voronoi_polygons(shapely.multipoints(points), extend_to=extent, ordered=True)
    cells = np.asarray(shapely.get_parts(diagram))[: len(inside)]
    county = shapely.union_all(cells)
    return inside, np.asarray(kinds), cells, county


def _township_groups(seeds: np.ndarray, cells: np.ndarray, n_groups: int) -> list[list[int]]:
    """Split villages into ``n_groups`` contiguous townships: angular sectors around the centre.

    The village nearest the centre anchors no sector by itself, so sectors are wedges of the disc
    or ring; a wedge whose cells fall apart gives its stray villages to the touching township.
    """
    n = len(seeds)
    if n_groups <= 1:
        return [list(range(n))]
    angle = np.arctan2(seeds[:, 1], seeds[:, 0])
    order = np.argsort(angle, kind="stable")
    groups = [list(map(int, c)) for c in np.array_split(order, n_groups)]
    owner = np.empty(n, dtype=int)
    for g, members in enumerate(groups):
        owner[members] = g
    for _ in range(3):
        changed = False
        for g in range(n_groups):
            members = [m for m in range(n) if owner[m] == g]
            if not members:
                continue
            parts = list(shapely.get_parts(shapely.union_all(cells[members])))
            if len(parts) <= 1:
                continue
            parts.sort(key=lambda p: -p.area)
            for part in parts[1:]:
                for m in members:
                    if not part.contains(shapely.point_on_surface(cells[m])):
                        continue
                    touching = [o for o in range(n) if owner[o] != g and cells[o].touches(cells[m])]
                    if touching:
                        owner[m] = owner[touching[0]]
                        changed = True
        if not changed:
            break
    return [[m for m in range(n) if owner[m] == g] for g in range(n_groups) if (owner == g).any()]


def _boundary_streets(townships: list, villages: list, county, rng: np.random.Generator) -> list:
    """Arterials along township edges, streets along the other village edges (not the county edge)."""
    del rng
    outer = county.boundary.buffer(0.5)
    out: list[tuple] = []
    if len(townships) > 1:
        town_lines = shapely.union_all([t.boundary for t in townships]).difference(outer)
        town_lines = shapely.line_merge(town_lines) if not town_lines.is_empty else town_lines
        for g in shapely.get_parts(town_lines):
            out.append((g, "arterial"))
        town_zone = town_lines.buffer(0.5)
    else:
        town_zone = shapely.Polygon()
    if len(villages) > 1:
        village_lines = shapely.union_all([v.boundary for v in villages]).difference(outer)
        village_lines = village_lines.difference(town_zone) if not town_zone.is_empty else village_lines
        if not village_lines.is_empty:
            merged = shapely.line_merge(village_lines)
            for g in shapely.get_parts(merged):
                out.append((g, "street"))
    return out


# --------------------------------------------------------------------------- streets and buildings


@dataclass
class _Built:
    """Per-building arrays (metric CRS) for all villages."""

    footprints: np.ndarray
    village: np.ndarray  # index into the village list
    block: np.ndarray  # block id, unique across the county
    use: np.ndarray
    levels: np.ndarray
    households: np.ndarray


def _rotation(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def _village_grid(v: _Village, names: _Names, rng: np.random.Generator, spacing: float) -> dict:
    """Internal street grid of one village and the candidate building slots of its blocks."""
    kind = v.kind
    angle = rng.uniform(-math.pi / 4, math.pi / 4)
    rot = _rotation(angle)  # local (u, v) -> metric (x, y) is ``uv @ rot.T``
    poly = v.polygon
    coords = shapely.get_coordinates(poly)
    uv = coords @ rot
    umin, vmin = uv.min(axis=0) - spacing
    umax, vmax = uv.max(axis=0) + spacing
    u0, v0 = rng.uniform(0, spacing, 2)
    us = np.arange(umin + u0, umax, spacing)
    vs = np.arange(vmin + v0, vmax, spacing)
    lines = _Streets(names)
    common = names.common_streets(v.township_name)
    taken = 0
    lane_no = 1
    street_no = {"u": 1, "v": 1}
    for axis, values, (lo, hi) in (("u", us, (vmin, vmax)), ("v", vs, (umin, umax))):
        through: str | None = None
        lane_of_through = 1
        for i, val in enumerate(values):
            ends = np.array([[val, lo], [val, hi]]) if axis == "u" else np.array([[lo, val], [hi, val]])
            line = shapely.LineString(ends @ rot.T).intersection(poly)
            if line.is_empty:
                continue
            if i % 3 == 0:  # every third line is a through street, the others are lanes
                if taken < len(common):  # the town's 人民路, 中山路… first
                    through = common[taken]
                    taken += 1
                else:
                    through = f"{v.stem}{_cn_number(street_no[axis])}{'路' if axis == 'u' else '街'}"
                    street_no[axis] += 1
                lane_of_through = 1
                lines.add(line, "street", through)
            elif kind == "urban" and through is not None:  # numbered lanes off a street: 人民路2弄
                lines.add(line, "lane", f"{through}{lane_of_through}弄")
                lane_of_through += 1
            else:
                lines.add(line, "lane", f"{v.stem}{lane_no}巷")
                lane_no += 1
    # Slots: m x m per block, centred in sub-cells.
    m = _SLOTS_PER_SIDE[kind]
    sub = (np.arange(m) + 0.5) * spacing / m
    bu = us[:-1]
    bv = vs[:-1]
    iu, iv, su, sv = np.meshgrid(np.arange(len(bu)), np.arange(len(bv)), sub, sub, indexing="ij")
    cu = bu[iu.ravel()] + su.ravel()
    cv = bv[iv.ravel()] + sv.ravel()
    centres = np.column_stack([cu, cv]) @ rot.T
    block = iu.ravel() * (len(bv) + 1) + iv.ravel()
    scale = min(1.0, spacing / _BLOCK_M[kind])
    max_fp = tuple(x * scale for x in _MAX_FOOTPRINT_M[kind])
    return {
        "centres": centres,
        "block": block,
        "angle": angle,
        "lines": lines,
        "max_fp": max_fp,
        "common_taken": taken,
    }


def _cn_number(n: int) -> str:
    if n <= 10:
        return _CN_DIGITS[n]
    if n < 20:
        return "十" + _CN_DIGITS[n - 10]
    if n < 100:
        return _CN_DIGITS[n // 10] + "十" + (_CN_DIGITS[n % 10] if n % 10 else "")
    return str(n)


def _rectangles(centres: np.ndarray, width: np.ndarray, depth: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotated rectangles as a shapely array (vectorised)."""
    corners = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5]])
    local = corners[None, :, :] * np.column_stack([width, depth])[:, None, :]
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    x = local[:, :, 0] * c - local[:, :, 1] * s + centres[:, 0:1]
    y = local[:, :, 0] * s + local[:, :, 1] * c + centres[:, 1:2]
    return shapely.polygons(np.stack([x, y], axis=-1))


def _populate(villages: list[_Village], streets: _Streets, rng: np.random.Generator) -> _Built:
    """Street grids, then buildings placed in free slots with households summing to each target."""
    county_tree = _street_zone_tree(streets)
    out: dict[str, list] = {k: [] for k in ("footprints", "village", "block", "use", "levels", "households")}
    block_offset = 0
    for vi, v in enumerate(villages):
        need = _buildings_needed(v)
        spacing = _BLOCK_M[v.kind]
        for attempt in range(8):
            grid = _village_grid(v, streets.names, rng, spacing)
            free = _free_slots(v, grid, (county_tree, _street_zone_tree(grid["lines"])))
            if (
                len(free) >= need[0] + need[1]
                or (len(free) >= need[2] + need[1] and attempt > 0)
                or attempt == 7
            ):
                break
            # Dense village on a small polygon: tighten this village's grid and try again.
            spacing *= 0.85
        if len(free) < need[2]:
            raise RuntimeError(f"synthetic village {v.code}: no room for {v.target} households")
        streets.extend(grid["lines"])
        del streets.names.common_streets(v.township_name)[: grid["common_taken"]]  # now in use
        built = _place_buildings(v, grid, free, need, rng)
        for k in out:
            out[k].append(built[k])
        out["village"][-1] = np.full(len(built["households"]), vi)
        out["block"][-1] = built["block"] + block_offset
        block_offset += int(grid["block"].max()) + 1 if len(grid["block"]) else 0
    return _Built(**{k: np.concatenate(vals) if vals else np.array([]) for k, vals in out.items()})


def _street_zone_tree(streets: _Streets) -> shapely.STRtree:
    half_width = np.array([STREET_CLASS_WIDTH_M[c] / 2 for c in streets.classes])
    zone = shapely.buffer(np.asarray(streets.geoms, dtype=object), half_width, quad_segs=2)
    return shapely.STRtree(zone)


def _free_slots(v: _Village, grid: dict, trees: tuple[shapely.STRtree, ...]) -> np.ndarray:
    """Slots whose largest footprint lies inside the village and clear of every street."""
    w, d = grid["max_fp"]
    n = len(grid["centres"])
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    boxes = _rectangles(grid["centres"], np.full(n, w), np.full(n, d), np.full(n, grid["angle"]))
    inside = shapely.contains(v.polygon.buffer(-2.0), boxes)
    clash = np.zeros(n, dtype=bool)
    for tree in trees:
        hits = tree.query(boxes, predicate="intersects")
        clash[hits[0]] = True
    return np.flatnonzero(inside & ~clash)


def _buildings_needed(v: _Village) -> tuple[int, int, int]:
    """(residential wanted, non-residential, residential minimum) building counts for the target."""
    if v.kind == "urban":
        least = math.ceil(v.target / 120)
        n = int(np.clip(round(v.target / 70), least, max(v.target // 20, 1)))
        return n, max(1, n // 10), least
    least = math.ceil(v.target / 3)
    n = int(np.clip(round(v.target / 1.95), least, v.target))
    return n, max(1, n // 40), least


def _place_buildings(
    v: _Village, grid: dict, free: np.ndarray, need: tuple[int, int, int], rng: np.random.Generator
) -> dict:
    n_res, n_other, least = need
    # Short of slots: fewer, fuller buildings (never below ``least``, which keeps the caps).
    n_res = max(min(n_res, len(free) - n_other), min(least, len(free)))
    n_other = max(0, min(n_other, len(free) - n_res))
    centres = grid["centres"][free]
    if v.kind == "rural":
        # Houses cluster in hamlets: weight slots by closeness to a few hamlet centres.
        hamlets = centres[
            rng.choice(len(centres), size=min(len(centres), max(2, v.target // 150)), replace=False)
        ]
        d2 = ((centres[:, None, :] - hamlets[None, :, :]) ** 2).sum(-1).min(axis=1)
        weight = np.exp(-d2 / (2 * 250.0**2)) + 0.02
    else:
        weight = np.ones(len(centres))
    chosen = rng.choice(len(free), size=n_res + n_other, replace=False, p=weight / weight.sum())
    res, other = chosen[:n_res], chosen[n_res:]

    if v.kind == "urban":
        hh = _fix_total(rng.integers(20, 121, n_res), v.target, 20 if v.target >= 20 * n_res else 0, 120, rng)
        target_area = rng.uniform(300, 800, n_res)
        levels = np.clip(np.round(hh * _DWELLING_M2 / target_area), 4, 33).astype(np.int64)
        w_max, d_max = grid["max_fp"]
        # Tall enough for the footprint to fit its slot.
        levels = np.maximum(levels, np.ceil(hh * _DWELLING_M2 / (w_max * d_max))).astype(np.int64)
        area = hh * _DWELLING_M2 / levels
        depth = np.minimum(rng.uniform(12, 18, n_res), d_max)
        width = np.minimum(area / depth, w_max)
        depth = np.minimum(area / width, d_max)
        o_levels = rng.integers(2, 6, len(other))
        o_width = rng.uniform(0.4, 0.95, len(other)) * w_max
        o_depth = rng.uniform(0.6, 1.0, len(other)) * d_max
        uses_pool = np.array(["commercial", "school", "office", "retail"])
    else:
        hh = rng.choice([1, 2, 3], size=n_res, p=[0.3, 0.45, 0.25])
        hh = _fix_total(hh, v.target, 1, 3, rng)
        levels = np.where(hh >= 3, rng.integers(2, 4, n_res), rng.integers(1, 3, n_res))
        width, depth = rng.uniform(9, 14, n_res), rng.uniform(8, 12, n_res)
        o_levels = rng.integers(1, 3, len(other))
        o_width, o_depth = rng.uniform(10, 14, len(other)), rng.uniform(8, 12, len(other))
        uses_pool = np.array(["farm", "public", "retail"])
    idx = np.concatenate([res, other])
    widths = np.concatenate([width, o_width])
    depths = np.concatenate([depth, o_depth])
    footprints = _rectangles(centres[idx], widths, depths, np.full(len(idx), grid["angle"]))
    uses = np.concatenate(
        [
            np.full(n_res, "residential", dtype=object),
            uses_pool[rng.integers(0, len(uses_pool), len(other))].astype(object),
        ]
    )
    return {
        "footprints": footprints,
        "village": None,
        "block": grid["block"][free][idx],
        "use": uses,
        "levels": np.concatenate([levels, o_levels]).astype(np.int64),
        "households": np.concatenate([hh, np.zeros(len(other), dtype=np.int64)]).astype(np.int64),
    }


# --------------------------------------------------------------------------- frames


def _assemble(
    township_rows: list[dict],
    villages: list[_Village],
    streets: _Streets,
    built: _Built,
    context: dict,
    metric,
) -> SyntheticCounty:
    street_frame = gpd.GeoDataFrame(
        {
            "street_id": [f"S{i:06d}" for i in range(len(streets.geoms))],
            "name": streets.labels,
            "street_class": streets.classes,
        },
        geometry=list(streets.geoms),
        crs=metric,
    )

    vcode = np.array([v.code for v in villages], dtype=object)[built.village.astype(int)]
    building_ids = np.array(
        [f"B{c}{i:05d}" for c, i in zip(vcode, _seq_within(vcode), strict=True)], dtype=object
    )
    buildings = gpd.GeoDataFrame(
        {
            "building_id": building_ids,
            "village_code": vcode,
            "use": built.use,
            "levels": built.levels,
            "height": built.levels.astype(float) * 3.0,
            "households": built.households,
            "units": _stairway_units(built.households, built.levels),
        },
        geometry=built.footprints,
        crs=metric,
    )

    addresses = _addresses(buildings, villages, built, street_frame, context, streets.names)
    hh_by_village = addresses.groupby("village_code")["households"].sum()

    rows = list(township_rows)
    for v in villages:
        rows.append(
            {
                "code": v.code,
                "name": v.name,
                "level": "village",
                "parent_code": f"{v.code[:9]}000",
                "kind": v.kind,
                "geometry": v.polygon,
            }
        )
    divisions = (
        gpd.GeoDataFrame(rows, geometry="geometry", crs=metric)
        if rows
        else gpd.GeoDataFrame(
            columns=["code", "name", "level", "parent_code", "kind", "geometry"],
            geometry="geometry",
            crs=metric,
        )
    )
    town_of = divisions["code"].str.slice(0, 9)
    village_hh = divisions["code"].map(hh_by_village)
    town_hh = pd.Series(village_hh.to_numpy(), index=town_of).groupby(level=0).sum()
    divisions["households"] = np.where(
        divisions["level"] == "village", village_hh.fillna(0), town_of.map(town_hh).fillna(0)
    ).astype(np.int64)
    divisions = divisions.sort_values("code", kind="stable").reset_index(drop=True)
    return SyntheticCounty(
        divisions=_finish(divisions),
        streets=_finish(street_frame),
        buildings=_finish(buildings),
        addresses=_finish(addresses),
        metric_crs=metric,
    )


def _compound_names(unit: np.ndarray, village: np.ndarray, names: _Names) -> np.ndarray:
    """One compound name per numbered unit (an urban block), distinct within its village."""
    units = pd.unique(unit)
    village_of = pd.Series(village).groupby(unit).first().reindex(units).to_numpy()
    out = np.empty(len(units), dtype=object)
    for v in pd.unique(village_of):
        members = np.flatnonzero(village_of == v)
        out[members] = names.compounds(len(members))
    return out


def _stairway_units(households: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Stairway units (单元) of each building: two households a floor each; none if nobody lives there."""
    per_unit = _HOUSEHOLDS_PER_FLOOR * np.maximum(levels, 1)
    return np.where(households > 0, np.maximum(1, np.ceil(households / per_unit)), 0).astype(np.int64)


def _finish(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """To EPSG:4326 with plain object-dtype text columns (stable across pandas string defaults)."""
    out = frame.to_crs(WGS84)
    for col in out.columns:
        if col != out.geometry.name and (out[col].dtype == object or pd.api.types.is_string_dtype(out[col])):
            out[col] = out[col].astype(object)
    return out


def _seq_within(keys: np.ndarray) -> np.ndarray:
    """1-based running number of each element within its key (in order of appearance)."""
    return pd.Series(keys).groupby(pd.Series(keys)).cumcount().to_numpy() + 1


def _addresses(
    buildings: gpd.GeoDataFrame,
    villages: list[_Village],
    built: _Built,
    streets: gpd.GeoDataFrame,
    context: dict,
    names: _Names,
) -> gpd.GeoDataFrame:
    """One address per building: urban buildings share a gate number and a compound per block
    (XX路12号阳光花园3幢).  Numbers run along a street within its township (arterials: the
    county), so the town's 人民路12号 and the next town's are two addresses."""
    points = shapely.centroid(buildings.geometry.to_numpy())
    urban = np.array([villages[i].kind == "urban" for i in built.village.astype(int)], dtype=bool)
    # The numbered unit: a block (urban compound) or a house (rural).
    unit = np.where(
        urban,
        "b" + pd.Series(built.block).astype(str).to_numpy(),
        "h" + pd.Series(np.arange(len(points))).astype(str).to_numpy(),
    )
    unit_series = pd.Series(unit)
    xy = shapely.get_coordinates(points)
    unit_xy = pd.DataFrame(xy, columns=["x", "y"]).groupby(unit_series.to_numpy(), sort=False).mean()
    unit_points = shapely.points(unit_xy.to_numpy())

    street_geoms = streets.geometry.to_numpy()
    tree = shapely.STRtree(street_geoms)
    nearest = tree.query_nearest(unit_points, return_distance=False, all_matches=False)
    unit_street = np.empty(len(unit_points), dtype=np.int64)
    unit_street[nearest[0]] = nearest[1]
    lines = street_geoms[unit_street]
    pos = shapely.line_locate_point(lines, unit_points)
    a = shapely.get_coordinates(shapely.line_interpolate_point(lines, pos))
    b = shapely.get_coordinates(shapely.line_interpolate_point(lines, pos + 1.0))
    ux = unit_xy.to_numpy()
    cross = (b[:, 0] - a[:, 0]) * (ux[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (ux[:, 0] - a[:, 0])
    left = cross >= 0
    name = streets["name"].to_numpy()[unit_street]
    vidx = built.village.astype(int)
    first_building = pd.Series(np.arange(len(unit))).groupby(unit_series.to_numpy(), sort=False).first()
    unit_town = np.array([villages[i].township_name for i in vidx[first_building.to_numpy()]], dtype=object)
    arterial = streets["street_class"].to_numpy()[unit_street] == "arterial"
    # Numbers increase along the street: odd on the left, even on the right; streets with one name
    # spread over several lines are numbered as one (per township; arterials county-wide).
    order = pd.DataFrame(
        {
            "town": np.where(arterial, "", unit_town),
            "name": name,
            "left": left,
            "pos": pos + unit_street * 0.0,
        }
    )
    order["line_rank"] = pd.Series(unit_street).rank(method="dense").to_numpy()
    order = order.sort_values(["town", "name", "left", "line_rank", "pos"], kind="stable")
    rank = order.groupby(["town", "name", "left"], sort=False).cumcount().to_numpy() + 1
    number = np.empty(len(order), dtype=np.int64)
    number[order.index.to_numpy()] = np.where(order["left"].to_numpy(), 2 * rank - 1, 2 * rank)

    unit_index = pd.Index(unit_xy.index)
    pos_of = unit_index.get_indexer(unit)
    addr_street = name[pos_of]
    addr_number = np.array([f"{n}号" for n in number], dtype=object)[pos_of]
    in_unit = _seq_within(unit)
    no_building = np.array(None, dtype=object)  # numpy's stubs refuse a bare None as a where() branch
    building_part = np.where(urban, np.array([f"{i}幢" for i in in_unit], dtype=object), no_building)
    compound_part = np.where(urban, _compound_names(unit, vidx, names)[pos_of], no_building)

    v_town = np.array([villages[i].township_name for i in vidx], dtype=object)
    v_name = np.array([villages[i].name for i in vidx], dtype=object)
    frame = pd.DataFrame(
        {
            "province": context["province"],
            "city": context["city"],
            "county": context["county"],
            "township": v_town,
            "village": v_name,
            "street": addr_street.astype(object),
            "house_number": addr_number,
            "compound": compound_part,
            "building": building_part,
            "unit": None,
            "room": None,
        }
    )
    text = frame[list(ADDRESS_COMPONENTS)].fillna("").astype(str)
    full = text.iloc[:, 0].to_numpy().astype(object)
    for col in text.columns[1:]:
        full = full + text[col].to_numpy().astype(object)
    vcode = buildings["village_code"].to_numpy()
    addresses = gpd.GeoDataFrame(
        {
            "address_id": np.array(
                [f"A{c}{i:05d}" for c, i in zip(vcode, _seq_within(vcode), strict=True)], dtype=object
            ),
            "households": buildings["households"].to_numpy().astype(np.int64),
            "full_text": full,
            **{c: frame[c].to_numpy().astype(object) for c in ADDRESS_COMPONENTS},
            "village_code": vcode,
            "building_id": buildings["building_id"].to_numpy(),
        },
        geometry=points,
        crs=buildings.crs,
    )
    return addresses
