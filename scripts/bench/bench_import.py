"""Benchmark: import files with the `geogrid import` command, as a user would.

    .venv/bin/python scripts/bench/bench_import.py [--households 100000] [--seed 0]

Writes the synthetic county (``geogrid.synthetic.make_county``) to GeoPackage files (and its
addresses also to a CSV with Chinese headers 经度/纬度/户数/地址), creates a throwaway database on
the project-local cluster, and times ``geogrid import`` of each file in a subprocess (the
command's own report is printed), plus the Helsinki sample's addresses.  Then it times a file
with one broken row, which must be refused with nothing written.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from geogrid.db import make_engine, migrate
from geogrid.db.cluster import drop_database, ensure_database
from geogrid.io import write_frame
from geogrid.synthetic import make_county

ROOT = Path(__file__).resolve().parents[2]
GEOGRID = str(Path(sys.executable).with_name("geogrid"))


def run(args: list[str], env: dict) -> tuple[float, str, int]:
    t0 = time.perf_counter()
    done = subprocess.run([GEOGRID, *args], env=env, capture_output=True, text=True)
    # The command's verdict: its last line on stdout, or on stderr when it refused the file.
    if done.returncode == 0:
        said = done.stdout.strip().splitlines()[-1:]
    else:  # skip the progress bars on stderr
        said = [line.strip() for line in done.stderr.splitlines() if "checking" not in line][:3]
    return time.perf_counter() - t0, " ".join(said).replace("|", "/"), done.returncode


def _county_office_files(csv, folder: Path) -> None:
    """The address table as a GBK CSV, an .xlsx, a GBK Shapefile without .cpg and a KML."""
    import geopandas as gpd
    import pyogrio

    csv.to_csv(folder / "addresses_gbk.csv", index=False, encoding="gbk")
    csv.to_excel(folder / "addresses.xlsx", index=False)
    points = gpd.GeoDataFrame(
        csv.drop(columns=["经度", "纬度", "village_code"]),
        geometry=gpd.points_from_xy(csv["经度"], csv["纬度"]),
        crs="EPSG:4326",
    )
    pyogrio.write_dataframe(points, folder / "addresses_gbk.shp", encoding="GBK")
    (folder / "addresses_gbk.cpg").unlink()
    marks = "".join(
        f"<Placemark><name>{r.地址}</name><ExtendedData><Data name='编号'><value>{r.address_id}</value></Data>"
        f"<Data name='户数'><value>{r.户数}</value></Data></ExtendedData>"
        f"<Point><coordinates>{r.经度},{r.纬度}</coordinates></Point></Placemark>"
        for r in csv.itertuples()
    )
    (folder / "addresses.kml").write_text(
        f"<?xml version='1.0' encoding='UTF-8'?><kml xmlns='http://www.opengis.net/kml/2.2'><Document>{marks}"
        "</Document></kml>",
        encoding="utf-8",
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--households", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from geogrid.db import database_url

    server = database_url()
    name = f"geogrid_bench_import_{uuid.uuid4().hex[:6]}"
    admin = make_url(server).set(database="postgres").render_as_string(hide_password=False)
    ensure_database(admin, name)
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    migrate.upgrade(engine)
    env = {**os.environ, "GEOGRID_DATABASE_URL": url}
    try:
        county = make_county(households=args.households, seed=args.seed)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            write_frame(county.divisions, folder / "divisions.gpkg")
            write_frame(county.streets, folder / "streets.gpkg")
            addresses = county.addresses
            csv = addresses.assign(经度=addresses.geometry.x, 纬度=addresses.geometry.y)[
                ["address_id", "经度", "纬度", "households", "full_text", "village_code"]
            ].rename(columns={"households": "户数", "full_text": "地址"})
            csv.to_csv(folder / "addresses.csv", index=False)
            _county_office_files(csv, folder)
            broken = csv.copy()
            broken.loc[len(broken) // 2, "经度"] = 231.0  # one row out of range, in the middle
            broken.to_csv(folder / "broken.csv", index=False)

            print(f"# {os.cpu_count()} cores; county of {args.households:,} households, seed {args.seed}")
            print("| file | rows | seconds | the command said |")
            print("|---|---|---|---|")
            for kind, path, rows, extra in (
                ("divisions", folder / "divisions.gpkg", len(county.divisions), []),
                ("streets", folder / "streets.gpkg", len(county.streets), []),
                ("addresses", folder / "addresses.csv", len(csv), []),
                ("addresses", ROOT / "data/helsinki/helsinki.gpkg", 1468, ["--layer", "addresses"]),
                # The same addresses as county offices have them (issue 10): encodings detected.
                ("addresses", folder / "addresses_gbk.csv", len(csv), ["--replace"]),
                ("addresses", folder / "addresses.xlsx", len(csv), ["--replace"]),
                ("addresses", folder / "addresses_gbk.shp", len(csv), ["--replace"]),
                ("addresses", folder / "addresses.kml", len(csv), ["--replace"]),
            ):
                seconds, said, code = run(["import", kind, str(path), *extra], env)
                assert code == 0, said
                print(f"| {path.name} ({kind}) | {rows:,} | {seconds:.1f} | {said} |")
            with engine.connect() as conn:
                before = conn.execute(sa.text("SELECT count(*) FROM addresses")).scalar()
            seconds, said, code = run(["import", "addresses", str(folder / "broken.csv"), "--replace"], env)
            with engine.connect() as conn:
                after = conn.execute(sa.text("SELECT count(*) FROM addresses")).scalar()
            assert code == 2 and before == after, (code, before, after)
            print(
                f"| broken.csv (1 bad row of {len(broken):,}) | refused, exit {code} | {seconds:.1f} | {said} |"
            )
    finally:
        engine.dispose()
        drop_database(admin, name)


if __name__ == "__main__":
    main()
