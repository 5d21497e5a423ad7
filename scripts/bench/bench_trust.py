"""What the key cache buys, and how fast each abuse input is refused.

    .venv/bin/python scripts/bench/bench_trust.py [--duration 10] [--connections 16] [--repeat 20]

A database ``geogrid_bench_trust`` on the project-local cluster gets the small published
sample of ``tests/incident_support.py``.  Each server is one uvicorn process on 127.0.0.1
(rate limits off unless measured):

1. Keys: ``wrk`` on ``GET /lookup?lon=&lat=`` (the field app's hot path) anonymously, with a
   key through the cache (the key version is read at most every 0.5 s per process), and with a
   key re-checked on every request (``GEOGRID_KEY_CHECK_INTERVAL_S`` = 1 µs: one query per
   request, what a server without the cache pays).
2. Abuse inputs: the median and worst time of ``--repeat`` requests of each, and the server's
   memory around a 100 MB body.

Prints Markdown for docs/RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests.* hold the sample and the server

from geogrid.db import database_url, keys, make_engine, migrate
from geogrid.db.cluster import drop_database, ensure_database
from tests.api_support import feature_collection, plan_a
from tests.incident_support import IN_G1, publish_sample
from tests.server_support import api_process, rss_bytes

DBNAME = "geogrid_bench_trust"
ADDRESS = "江苏省苏州市金港街道东港社区人民路12号"
NO_LIMITS = {"rate_limit_per_key": "0", "rate_limit_per_address": "0"}


def prepare() -> tuple[str, dict[str, str]]:
    server = database_url()
    admin = make_url(server).set(database="postgres").render_as_string(hide_password=False)
    drop_database(admin, DBNAME)
    ensure_database(admin, DBNAME)
    url = make_url(server).set(database=DBNAME).render_as_string(hide_password=False)
    engine = make_engine(url)
    migrate.upgrade(engine)
    publish_sample(engine)
    made = {
        role: keys.create_key(engine, f"bench-{role}", role) for role in ("viewer", "planner", "resident")
    }
    engine.dispose()
    return url, made


def wrk(base: str, path: str, *, duration: int, connections: int, key: str | None) -> dict:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    if key:
        cmd += ["-H", f"X-API-Key: {key}"]
    out = subprocess.run([*cmd, base + path], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {
        "rps": rps,
        "p50_ms": float(p50.group(1)) * unit[p50.group(2)] if p50 else float("nan"),
        "errors": int(non2xx.group(1)) if non2xx else 0,
    }


def key_rows(url: str, made: dict[str, str], tmp: Path, *, duration: int, connections: int) -> list[str]:
    path = f"/lookup?lon={IN_G1[0]}&lat={IN_G1[1]}"
    cases = [
        ("anonymous", None, {}),
        ("API key, cached (version checked every 0.5 s)", made["viewer"], {}),
        (
            "API key, checked on every request (no cache)",
            made["viewer"],
            {"key_check_interval_s": "0.000001"},
        ),
    ]
    rows = []
    for label, key, extra in cases:
        with api_process(url, tmp, **NO_LIMITS, **extra) as (base, _proc):
            wrk(base, path, duration=2, connections=connections, key=key)  # warm up
            r = wrk(base, path, duration=duration, connections=connections, key=key)
        rows.append(f"| {label} | {r['rps']:,.0f} | {r['p50_ms']:.2f} ms | {r['errors']} |")
    return rows


def _timed(send, repeat: int) -> tuple[int, float, float]:
    times, status = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        status = send()
        times.append((time.perf_counter() - t0) * 1000)
    return status, statistics.median(times), max(times)


def _declared_100_mb(base: str) -> int:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as s:
        s.sendall(
            b"POST /lookup/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 104857600\r\n\r\n"
        )
        return int(s.recv(4096).split()[1])


def _streamed_100_mb(base: str) -> int:
    chunk = b" " * (1 << 20)

    def body():
        yield b'{"addresses": ['
        for _ in range(100):
            yield chunk

    try:
        return httpx.post(
            base + "/lookup/batch", content=body(), headers={"Content-Type": "application/json"}, timeout=60
        ).status_code
    except httpx.TransportError:
        return 0  # the server closed the connection at the limit, while we were still sending


def abuse_rows(url: str, made: dict[str, str], tmp: Path, *, repeat: int) -> list[str]:
    plan = feature_collection(plan_a())
    plan["features"][0]["properties"]["households"] = 1e308
    planner = {"X-API-Key": made["planner"]}
    resident = {"X-API-Key": made["resident"], "Content-Type": "application/json"}
    many_ids = {"service_request_id": ",".join(f"E{n:08d}" for n in range(101))}
    deep = b"[" * 100_000
    long_text = (ADDRESS * 250)[:5000]
    rows = []
    with api_process(url, tmp, **NO_LIMITS) as (base, proc), httpx.Client(base_url=base, timeout=60) as c:

        def send(method: str, path: str, **kw):
            return lambda: c.request(method, path, **kw).status_code

        cases = [
            ("address text of 1,000 characters", send("GET", "/lookup", params={"address": ADDRESS * 50})),
            ("address text of 5,000 characters", send("GET", "/lookup", params={"address": long_text})),
            (
                "batch of 1,001 address texts",
                send("POST", "/lookup/batch", json={"addresses": [ADDRESS] * 1001}),
            ),
            (
                "100,000 nested `[` (incident report)",
                send("POST", "/incidents", content=deep, headers=resident),
            ),
            ("plan with households 1e308", send("POST", "/plans", json=plan, headers=planner)),
            ("Open311 request for 101 ids", send("GET", "/open311/v2/requests.json", params=many_ids)),
            ("Content-Length: 100 MB declared", lambda: _declared_100_mb(base)),
        ]
        for label, request in cases:
            status, median, worst = _timed(request, repeat)
            rows.append(f"| {label} | {status} | {median:.1f} ms | {worst:.1f} ms |")
        before = rss_bytes(proc.pid)
        status, median, worst = _timed(lambda: _streamed_100_mb(base), 3)
        grown = (rss_bytes(proc.pid) - before) / (1 << 20)
        rows.append(
            f"| 100 MB streamed (chunked) body, 3 times | {status or 'closed at limit'} | {median:.0f} ms | "
            f"{worst:.0f} ms; server RSS {before / (1 << 20):.0f} MB, +{grown:.1f} MB |"
        )
    with (
        api_process(url, tmp, rate_limit_per_address="5", rate_limit_burst_s="1") as (base, _),
        httpx.Client(base_url=base) as c,
    ):
        for _ in range(5):
            c.get("/ping")
        status, median, worst = _timed(lambda: c.get("/ping").status_code, repeat)
        rows.append(
            f"| over the per-address rate (5/s, burst 5) | {status} | {median:.1f} ms | {worst:.1f} ms |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    url, made = prepare()
    with tempfile.TemporaryDirectory(prefix="geogrid-bench-trust-") as tmp:
        keys_table = key_rows(url, made, Path(tmp), duration=args.duration, connections=args.connections)
        abuse_table = abuse_rows(url, made, Path(tmp), repeat=args.repeat)
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}\n")
    print(f"GET /lookup?lon=&lat= , wrk 1 thread, {args.connections} connections, {args.duration} s\n")
    print("| caller | requests/s | p50 | non-2xx |\n|---|---|---|---|")
    print("\n".join(keys_table))
    print(f"\nabuse inputs, {args.repeat} requests each (sequential)\n")
    print("| input | status | median | worst |\n|---|---|---|---|")
    print("\n".join(abuse_table))
    print(json.dumps({"done": True}))


if __name__ == "__main__":
    main()
