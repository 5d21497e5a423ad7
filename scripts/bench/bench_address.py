"""Benchmark address lookup on the demo county: top-1 grid accuracy per way of writing, latency.

    .venv/bin/python scripts/bench/bench_address.py [--households 100000] [--seed 0]
        [--sample 300] [--requests 2000] [--rebuild]

1. A database ``geogrid_bench_address`` on the local cluster gets the seeded synthetic county
   (:func:`geogrid.synthetic.make_county`: 人民路, 中山路… repeat across townships), every
   village partitioned and published (kept between runs; ``--rebuild`` starts over).
2. ``--sample`` standard addresses are drawn (seeded) and each is rewritten the ways people
   write it (see ``KINDS``): numerals either way, traditional characters, full-width digits,
   missing prefixes, synonyms, one wrong or missing character in the street, a unit and room
   after the building, and a street + number alone where the county repeats it.
3. Every variant goes to ``GET /lookup?address=`` of a uvicorn server (1 worker, 127.0.0.1,
   sequential requests).  The expected answer is derived from the data: the address's grid when
   the text identifies it; ``ambiguous`` when the addresses it fits lie in several grids.
4. Latency: ``--requests`` lookups over all variants, and ``GET /lookup/suggest`` over prefixes
   (1–6 characters of streets and addresses, and pinyin initials), p50/p95/p99.

Prints Markdown tables for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import cn2an
import httpx
import numpy as np
import opencc
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from geogrid.address import pinyin_initials
from geogrid.db import database_url, make_engine, migrate
from geogrid.db.cluster import ensure_database

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
DBNAME = "geogrid_bench_address"
COUNTY = "320508"
PORT = 18741
PREFIX = ("province", "city", "county")
# Characters a typo puts into a street name (common in street names, so not obviously wrong).
TYPO_CHARS = "东西南北中新华民安平和兴胜利光明文化建设永长江河山湖海金银花园"


def bench_url() -> str:
    server = database_url()
    admin = make_url(server).set(database="postgres").render_as_string(hide_password=False)
    ensure_database(admin, DBNAME)
    return make_url(server).set(database=DBNAME).render_as_string(hide_password=False)


def prepare(url: str, *, households: int, seed: int, rebuild: bool) -> None:
    """Load, partition and publish the synthetic county unless it is already there."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        ready = conn.execute(sa.text("SELECT count(*) FROM plans WHERE status = 'published'")).scalar()
    if ready and not rebuild:
        engine.dispose()
        return
    from geogrid.db import store
    from geogrid.db.workflow import partition_scope
    from geogrid.synthetic import make_county

    t0 = time.perf_counter()
    county = make_county(households=households, seed=seed, county_code=COUNTY)
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE grids, plans, addresses, streets, divisions RESTART IDENTITY CASCADE"))
    store.load(engine, "divisions", county.divisions.drop(columns=["households"]))
    t_load = time.perf_counter()
    store.load(engine, "addresses", county.addresses.drop(columns=["building_id"]))
    print(f"# addresses loaded with their keys in {time.perf_counter() - t_load:.1f} s", file=sys.stderr)
    store.load(engine, "streets", county.streets.drop(columns=["street_id"]))
    done = partition_scope(
        engine, COUNTY + "000000", seed=seed, scheduler="synchronous", progress=False, publish=True
    )
    if done.result.failed:
        print(f"# villages not partitioned: {done.result.failed}", file=sys.stderr)
    with engine.connect() as conn:
        conn.execute(sa.text("ANALYZE"))
    print(f"# county ready in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    engine.dispose()


def read_addresses(url: str) -> pd.DataFrame:
    engine = make_engine(url)
    sql = """
        SELECT a.source_id, a.province, a.city, a.county, a.township, a.village, a.street,
               a.house_number, a.compound, a.building, a.full_text, a.division_code,
               (SELECT g.code FROM grids g JOIN plans p ON p.id = g.plan_id AND p.status = 'published'
                WHERE ST_Intersects(g.geom, a.geom) ORDER BY length(g.code) DESC, g.code LIMIT 1) AS grid
        FROM addresses a ORDER BY a.id
    """
    with engine.connect() as conn:
        frame = pd.read_sql(sa.text(sql), conn)
    engine.dispose()
    return frame


# --------------------------------------------------------------------------- variants


def _join(row, parts) -> str:
    return "".join(str(row[p]) for p in parts if isinstance(row[p], str))


def _to_chinese(text: str) -> str:
    """Every Arabic number written in Chinese (4号 → 四号, 502 → 五百零二)."""
    import re

    return re.sub(r"\d+", lambda m: cn2an.an2cn(m.group(0)), text)


def _to_arabic(text: str) -> str:
    import re

    return re.sub(
        "[一二三四五六七八九十百]+(?=[路街巷弄号幢])", lambda m: str(cn2an.cn2an(m.group(0), "smart")), text
    )


def _typo(street: str, rng: random.Random, taken: set[str]) -> str | None:
    """One wrong or missing character in the street's name part (never another real street)."""
    stem_end = max(1, len(street) - 1)  # keep the suffix (路/街/巷/弄)
    for _ in range(20):
        i = rng.randrange(stem_end)
        if street[i].isdigit():
            continue
        if rng.random() < 0.5 and len(street) >= 3:
            typo = street[:i] + street[i + 1 :]
        else:
            typo = street[:i] + rng.choice(TYPO_CHARS) + street[i + 1 :]
        if typo != street and typo not in taken:
            return typo
    return None


def _synonyms(text: str, rng: random.Random) -> str:
    text = text.replace("幢", rng.choice(["号楼", "栋", "座"]))
    return text.replace("巷", "弄").replace("社区", "社区居委会")


def _typo_case(row, frame_by_gate, rng: random.Random, streets: set[str]) -> tuple[str, str, bool] | None:
    """(kind, text, ambiguous) of a one-character typo in the street; the expectation comes from
    the data: every address of the village with that number, compound and building whose street is one
    edit from the typo counts, and if they lie in several grids the text identifies none."""
    from rapidfuzz.distance import Levenshtein

    typo = _typo(row["street"], rng, streets)
    if typo is None:
        return None
    below = ["township", "village"]
    text = _join(row, below) + typo + _join(row, ["house_number", "compound", "building"])
    same = frame_by_gate.get(
        (row["division_code"], row["house_number"], row["compound"] or "", row["building"] or ""), []
    )
    grids = {grid for street, grid in same if Levenshtein.distance(street, typo) <= 1}
    if len(grids) > 1:
        return "one wrong/missing character, fits two streets", text, True
    return "one wrong/missing character", text, False


def variants(frame: pd.DataFrame, *, sample: int, seed: int) -> list[dict]:
    """Seeded variants of ``sample`` addresses (half urban, half rural): {kind, text, grid, ambiguous}."""
    rng = random.Random(seed)
    to_traditional = opencc.OpenCC("s2t")
    streets = set(frame["street"].dropna())
    urban = frame["division_code"].str.slice(9).astype(int) < 200
    chosen = pd.concat(
        [
            frame[urban].sample(n=min(sample // 2, int(urban.sum())), random_state=seed),
            frame[~urban].sample(n=min(sample - sample // 2, int((~urban).sum())), random_state=seed),
        ]
    )
    by_gate: dict[tuple, list] = defaultdict(list)
    for r in frame.itertuples():
        by_gate[(r.division_code, r.house_number, r.compound or "", r.building or "")].append(
            (r.street, r.grid)
        )
    below = ["township", "village", "street", "house_number", "compound", "building"]
    out: list[dict] = []

    def add(kind: str, text: str, row, *, ambiguous: bool = False) -> None:
        out.append(
            {"kind": kind, "text": text, "grid": row["grid"], "id": row["source_id"], "ambiguous": ambiguous}
        )

    for _, row in chosen.iterrows():
        full, written = row["full_text"], _join(row, below)
        add("exact text", full, row)
        add("no province/city/county", written, row)
        add(
            "township + street + number",
            _join(row, ["township", "street", "house_number", "compound", "building"]),
            row,
        )
        add("numerals Arabic → Chinese", _to_chinese(written), row)
        add("traditional characters", to_traditional.convert(full), row)
        add("full-width digits", written.translate({ord(c): 0xFF10 + int(c) for c in "0123456789"}), row)
        add("synonyms (号楼/栋/座, 弄, 居委会)", _synonyms(written, rng), row)
        typo = _typo_case(row, by_gate, rng, streets)
        if typo is not None:
            add(typo[0], typo[1], row, ambiguous=typo[2])
        if isinstance(row["building"], str):
            unit, room = rng.randint(1, 3), rng.randint(1, 6) * 100 + rng.randint(1, 2)
            add("unit + room after the building", written + f"{unit}单元{room}室", row)
    # Chinese numerals in street names (X二路) written in Arabic: sample among those streets.
    named = frame[frame["street"].str.contains("[一二三四五六七八九十]", regex=True, na=False)]
    for _, row in named.sample(n=min(sample // 2, len(named)), random_state=seed).iterrows():
        add("numerals Chinese → Arabic", _to_arabic(_join(row, below)), row)
    # Streets the county does not have (no street within one character): nothing may be found.
    from rapidfuzz.distance import Levenshtein

    made_up = 0
    while made_up < sample // 2:
        street = "".join(rng.sample(TYPO_CHARS, 2)) + rng.choice("路街")
        if all(Levenshtein.distance(street, s, score_cutoff=1) > 1 for s in streets):
            number = chosen.iloc[made_up % len(chosen)]["house_number"]
            case = {"kind": "made-up street (nothing to find)", "text": street + number, "grid": None}
            out.append(case | {"id": None, "ambiguous": False, "nothing": True})
            made_up += 1
    # The county repeats 人民路12号 in several townships: street + number alone names no grid.
    grids_of_gate = frame.groupby(["street", "house_number"])["grid"].nunique()
    repeated = frame.set_index(["street", "house_number"]).index.map(grids_of_gate) > 1
    for _, row in (
        frame[repeated].sample(n=min(sample // 2, int(repeated.sum())), random_state=seed).iterrows()
    ):
        add("street + number repeated across towns", row["street"] + row["house_number"], row, ambiguous=True)
    return out


# --------------------------------------------------------------------------- runs


class Server:
    """A uvicorn server of the API on the bench database, started and stopped by this script."""

    def __init__(self, url: str) -> None:
        cmd = [str(VENV_BIN / "uvicorn"), "api:create_app", "--factory", "--host", "127.0.0.1"]
        cmd += ["--port", str(PORT), "--workers", "1", "--no-access-log", "--log-level", "warning"]
        env = {**os.environ, "GEOGRID_DATABASE_URL": url}
        self.proc = subprocess.Popen(cmd, env=env, cwd=REPO)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{PORT}/collections", timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("the API server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def judge(cases: list[dict], client: httpx.Client) -> pd.DataFrame:
    rows = []
    for case in cases:
        body = client.get("/lookup", params={"address": case["text"]}).json()
        grid = (body.get("grid") or {}).get("code")
        certain = body["found"] and not body["ambiguous"]
        ids = {m["address_id"] for m in body["matches"]}
        if case.get("nothing"):
            right = not body["found"]
        elif case["ambiguous"]:
            right = body["ambiguous"] and case["id"] in ids
        else:
            right = certain and grid == case["grid"]
        rows.append(
            {
                "kind": case["kind"],
                "right": right,
                "ambiguous": body["ambiguous"],
                "wrong_certain": certain and (grid != case["grid"] or bool(case.get("nothing"))),
                "not_found": not body["found"],
                "text": case["text"],
            }
        )
    return pd.DataFrame(rows)


def latency(client: httpx.Client, path: str, params: list[dict]) -> dict[str, float]:
    times = []
    for p in params:
        t0 = time.perf_counter()
        response = client.get(path, params=p)
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, response.text
    ms = np.array(times)
    return {
        "n": len(ms),
        "p50": np.percentile(ms, 50),
        "p95": np.percentile(ms, 95),
        "p99": np.percentile(ms, 99),
    }


def suggest_prefixes(frame: pd.DataFrame, n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = frame.sample(n=min(n, len(frame)), random_state=seed + 1)
    out = []
    for _, row in rows.iterrows():
        short = _join(row, ["street", "house_number", "compound", "building"])
        choice = rng.random()
        if choice < 0.2:
            out.append({"q": pinyin_initials(row["street"])[: rng.randint(2, 4)]})
        else:
            out.append({"q": short[: rng.randint(1, min(6, len(short)))]})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()

    url = bench_url()
    prepare(url, households=args.households, seed=args.seed, rebuild=args.rebuild)
    frame = read_addresses(url)
    cases = variants(frame, sample=args.sample, seed=args.seed)
    server = Server(url)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=30) as client:
            for case in cases[:50]:  # warm the connection pool and caches
                client.get("/lookup", params={"address": case["text"]})
            results = judge(cases, client)
            rng = random.Random(args.seed)
            lookups = [{"address": rng.choice(cases)["text"]} for _ in range(args.requests)]
            lookup_ms = latency(client, "/lookup", lookups)
            suggest_ms = latency(client, "/lookup/suggest", suggest_prefixes(frame, args.requests, args.seed))
    finally:
        server.stop()
    report(results, lookup_ms, suggest_ms, frame, args)


def report(results: pd.DataFrame, lookup_ms: dict, suggest_ms: dict, frame: pd.DataFrame, args) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Machine: {os.cpu_count()} cores {platform.machine()}, Python {platform.python_version()}")
    print(f"Load average at the end (1, 5, 15 min): {load} (other jobs share the cores when it is above ~1)")
    print(f"County: {len(frame):,} addresses, {frame['grid'].nunique():,} grids (seed {args.seed})\n")
    print("| variant | texts | right | accuracy | answered ambiguous | wrong grid as certain | not found |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    grouped = defaultdict(list)
    for kind, g in results.groupby("kind", sort=False):
        grouped[kind] = g
    for kind, g in grouped.items():
        print(
            f"| {kind} | {len(g)} | {int(g['right'].sum())} | {g['right'].mean():.1%} | "
            f"{int(g['ambiguous'].sum())} | {int(g['wrong_certain'].sum())} | {int(g['not_found'].sum())} |"
        )
    total = results
    print(
        f"| **all** | {len(total)} | {int(total['right'].sum())} | {total['right'].mean():.1%} | "
        f"{int(total['ambiguous'].sum())} | **{int(total['wrong_certain'].sum())}** | {int(total['not_found'].sum())} |"
    )
    print("\n| endpoint | requests | p50 | p95 | p99 |\n|---|---:|---:|---:|---:|")
    for name, ms in (("GET /lookup?address=", lookup_ms), ("GET /lookup/suggest?q=", suggest_ms)):
        print(f"| {name} | {ms['n']} | {ms['p50']:.1f} ms | {ms['p95']:.1f} ms | {ms['p99']:.1f} ms |")
    misses = total[~total["right"]]
    if len(misses):
        print("\nMisses (first 15):", file=sys.stderr)
        for _, m in misses.head(15).iterrows():
            print(
                f"  {m['kind']}: {m['text']} (ambiguous={m['ambiguous']}, found={not m['not_found']})",
                file=sys.stderr,
            )


if __name__ == "__main__":
    main()
