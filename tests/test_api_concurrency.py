"""Publishing while lookups and tiles are served: every answer comes wholly from one plan."""

from __future__ import annotations

import threading

import mapbox_vector_tile
import numpy as np

from tests.api_support import NORTH, SOUTH, TOWNSHIP, codes_of, load_township, plan_a, plan_b, tile_of

CYCLES = 12
READERS = 4


def test_lookups_never_mix_two_plans_while_publishing(client, engine, api_key):
    ids = load_township(engine, publish="a")
    planner = api_key("planner")
    codes = {"a": codes_of(plan_a()), "b": codes_of(plan_b())}
    assert not codes["a"] & codes["b"]
    rng = np.random.default_rng(7)
    points = np.column_stack(
        [rng.uniform(120.6001, 120.6199, 400), rng.uniform(SOUTH + 1e-4, NORTH - 1e-4, 400)]
    )
    body = {"points": points.tolist()}
    tile_url = "/collections/grids/tiles/WebMercatorQuad/{}/{}/{}".format(*tile_of(120.61, 31.31, 12))
    seen = {"a": 0, "b": 0}
    problems: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def which(answer: set[str], what: str) -> None:
        owners = [name for name, plan_codes in codes.items() if answer <= plan_codes]
        with lock:
            if len(owners) != 1:
                problems.append(f"{what} mixes plans: {sorted(answer)}")
            else:
                seen[owners[0]] += 1

    def batch_reader() -> None:
        while not stop.is_set():
            results = client.post("/lookup/batch", json=body).json()["results"]
            if any(r["grid"] is None for r in results):
                with lock:
                    problems.append("a point inside the township found no grid")
            which({r["grid"]["code"] for r in results if r["grid"]}, "batch")

    def tile_reader() -> None:
        while not stop.is_set():
            tile = mapbox_vector_tile.decode(client.get(tile_url).content)
            which({f["properties"]["code"] for f in tile["grids"]["features"]}, "tile")

    def point_reader() -> None:
        i = 0
        while not stop.is_set():
            lon, lat = points[i % len(points)]
            response = client.get("/lookup", params={"lon": lon, "lat": lat})
            if response.status_code != 200:
                with lock:
                    problems.append(f"point lookup answered {response.status_code}")
            i += 1

    threads = [threading.Thread(target=batch_reader) for _ in range(READERS)]
    threads += [threading.Thread(target=tile_reader), threading.Thread(target=point_reader)]
    for t in threads:
        t.start()
    try:
        assert client.post(f"/plans/{ids['b']}/publish", headers=planner).status_code == 200
        for _ in range(CYCLES):
            # each rollback swaps A and B back and forth, in one transaction
            response = client.post(f"/scopes/{TOWNSHIP}/rollback", headers=planner)
            assert response.status_code == 200, response.text
            stop.wait(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert problems == []
    # the readers really ran across the swaps
    assert seen["a"] >= 2 and seen["b"] >= 2, seen
