"""The base register in PostGIS: all-or-nothing imports, households derived per address, coverage,
audited reads, ID numbers stored only masked / hashed / encrypted; 联户 formed and edited."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import sqlalchemy as sa
from layer_support import addresses, base_code, load_village, random_points

from geogrid import register
from geogrid.db import link_groups as db_groups
from geogrid.db import lookup
from geogrid.db import register as db_register
from geogrid.db.rawpool import pool_for
from geogrid.errors import ImportRowsError, NotFoundError, PlanEditError
from geogrid.synthetic_register import make_register

KEYS = register.derive_keys(b"test register secret, 32 bytes!!")
READER = db_register.Reader("张网格员", "worker", "GET /register/residents/{id}")


def _register_of(address_ids: list[str], households: int = 3, seed: int = 0) -> pd.DataFrame:
    frame = pd.DataFrame({"address_id": address_ids, "households": [households] * len(address_ids)})
    return register.read_register(make_register(frame, seed=seed))


@pytest.fixture
def loaded(engine):
    load_village(engine)
    # the addresses of base grid (0, 0) (column 0, row 0) and of (5, 3)
    ids = [a for a in addresses().address_id if a.startswith(("A00", "A53"))]
    rows = _register_of(ids)
    done = db_register.import_register(engine, rows, KEYS, source="一户一档.xlsx")
    return rows, done


def test_an_import_writes_houses_households_and_residents_and_derives_households(engine, loaded):
    rows, done = loaded
    assert (done.houses, done.households, done.residents, done.addresses) == (50, 150, len(rows), 50)
    with engine.connect() as conn:
        per_address = dict(conn.execute(sa.text("SELECT source_id, households FROM addresses")).all())
        grids = dict(
            conn.execute(
                sa.text(
                    "SELECT g.code, g.households FROM grids g JOIN plans p ON p.id = g.plan_id AND p.status = 'published'"
                )
            ).all()
        )
    assert all(per_address[a] == 3 for a in rows.address_id)  # was 2 per address before the register
    assert per_address["A1000"] == 2  # an address without register keeps its count
    assert grids[base_code(0, 0)] == 75 and grids[base_code(5, 3)] == 75 and grids[base_code(1, 0)] == 50


def test_no_plain_id_number_is_stored_anywhere(engine, loaded):
    rows, _ = loaded
    with engine.connect() as conn:
        dump = "\n".join(
            json.dumps(r[0], ensure_ascii=False)
            for table in ("register_houses", "register_households", "register_residents", "addresses")
            for r in conn.execute(sa.text(f"SELECT row_to_json(t) FROM {table} t"))
        )
    for number in rows.id_number:
        assert number not in dump and number[4:14] not in dump
    stored = dict(db_register_rows(engine))
    for number in rows.id_number[:20]:
        digest = register.id_hash(number, KEYS)
        assert stored[digest][0] == register.mask_id(number)
        assert register.decrypt_id(stored[digest][1], KEYS) == number


def db_register_rows(engine):
    with engine.connect() as conn:
        for h, m, c in conn.execute(sa.text("SELECT id_hash, id_masked, id_cipher FROM register_residents")):
            yield h, (m, c)


def test_bad_rows_write_nothing(engine, loaded):
    rows, _ = loaded
    again = rows.head(3).copy()
    unknown = _register_of(["NOPE"], households=1, seed=9)
    with pytest.raises(ImportRowsError) as info:
        db_register.import_register(
            engine,
            pd.concat([again, unknown], ignore_index=True).assign(row=range(1, 4 + len(unknown))),
            KEYS,
        )
    assert [e.field for e in info.value.errors] == ["address_id"] * len(unknown)
    with pytest.raises(ImportRowsError) as info:
        db_register.import_register(engine, again, KEYS)
    fields = {e.field for e in info.value.errors}
    assert fields == {"household_code", "id_number"}
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM register_residents")).scalar() == len(rows)


def test_replace_re_surveys_the_addresses_of_the_file(engine, loaded):
    rows, _ = loaded
    first = rows[rows.address_id == rows.address_id.iloc[0]]
    smaller = _register_of([first.address_id.iloc[0]], households=1, seed=7)
    done = db_register.import_register(engine, smaller, KEYS, replace=True)
    assert done.replaced_households == 3 and done.households == 1
    with engine.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT households FROM addresses WHERE source_id = :a"),
                {"a": first.address_id.iloc[0]},
            ).scalar()
            == 1
        )


def test_reads_are_limited_to_the_coverage_and_recorded(engine, loaded):
    rows, _ = loaded
    mine = register.register_coverage("worker", {"grid_codes": [base_code(0, 0)]})
    total, people = db_register.list_residents(engine, coverage=mine, reader=READER, limit=1000)
    expected = rows[rows.address_id.str.startswith("A00")]
    assert total == len(expected) == len(people)
    assert {p["name"] for p in people} == set(expected.name)
    assert all("*" in p["id_number"] for p in people)
    other = rows[rows.address_id.str.startswith("A53")]
    found = db_register.search_id_number(engine, other.id_number.iloc[0], KEYS, coverage=mine, reader=READER)
    assert found == []  # outside the worker's grid: not found, not told
    found = db_register.search_id_number(
        engine, expected.id_number.iloc[0], KEYS, coverage=mine, reader=READER
    )
    assert [p["name"] for p in found] == [expected.name.iloc[0]]
    with pytest.raises(NotFoundError):
        db_register.resident(engine, 10**9, coverage=mine, reader=READER)
    reads = db_register.reads(engine, found[0]["id"])
    assert [(r.reader_name, r.endpoint) for r in reads] == [
        (READER.name, READER.endpoint)
    ] * 2  # listed, searched
    assert all(r.at.tzinfo is not None for r in reads)
    with engine.begin() as conn, pytest.raises(sa.exc.DBAPIError, match="append-only"):
        conn.execute(sa.text("DELETE FROM register_reads"))


def test_an_address_shows_people_only_to_those_it_covers(engine, loaded):
    rows, _ = loaded
    address = rows.address_id.iloc[0]
    nobody = register.register_coverage("viewer", {})
    public = db_register.address_register(engine, address, coverage=nobody, reader=READER)
    text = json.dumps(public, ensure_ascii=False)
    assert public["registered_households"] == 3 and not public["personal"]
    assert not any(n in text for n in rows.name) and not any(p in text for p in rows.phone.dropna())
    full = db_register.address_register(
        engine, address, coverage=register.register_coverage("admin", {}), reader=READER
    )
    assert (
        full["personal"]
        and sum(len(h["residents"]) for h in full["household_list"]) == (rows.address_id == address).sum()
    )


def test_link_groups_are_formed_found_and_edited(engine, loaded):
    done = db_groups.form(engine, "320508019001", seed=0)
    assert done.grids == 24 and done.households == 24 * 50 + 2 * 25
    total, groups = db_groups.list_groups(engine, prefix=base_code(0, 0))
    assert total == len(groups) and all(10 <= g["households"] <= 15 for g in groups)
    assert sum(g["households"] for g in groups) == 75
    pool = pool_for(engine)
    lon, lat = (float(v) for v in random_points(1, seed=3)[0])
    doc = json.loads(lookup.lookup_point(pool, lon, lat))
    assert len(doc["link_groups"]) == 1 and doc["link_groups"][0]["code"].startswith(doc["grid"]["code"])
    code = groups[0]["code"]
    updated = db_groups.update_group(engine, code, leader_name="王某明", leader_phone="139 0000 1111")
    assert updated["leader"] == {"name": "王某明", "phone": "13900001111"}
    with pytest.raises(Exception, match="mainland"):
        db_groups.update_group(engine, code, leader_phone="123")
    detail = db_groups.get_group(engine, code)
    moved_address = detail["addresses"][0]
    a, b = db_groups.move(
        engine, address_id=moved_address["address_id"], source=code, target=groups[1]["code"], households=1
    )
    assert a["households"] == groups[0]["households"] - 1 and b["households"] == groups[1]["households"] + 1
    with pytest.raises(PlanEditError):
        db_groups.move(
            engine,
            address_id=moved_address["address_id"],
            source=code,
            target=base_code(1, 0) + "01",
            households=1,
        )
    # a re-survey that changes an address's households marks its groups stale
    resurvey = _register_of([moved_address["address_id"]], households=1, seed=11)
    assert db_register.import_register(engine, resurvey, KEYS, replace=True).stale_link_groups >= 1
    # re-forming keeps the leader of a code that comes back
    db_groups.form(engine, "320508019001", seed=0)
    assert db_groups.get_group(engine, code)["leader"]["name"] == "王某明"
