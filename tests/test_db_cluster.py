"""The project-local PostGIS cluster starts from nothing, and migrations go up and down."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from geogrid.db import make_engine, migrate
from geogrid.db.cluster import LocalCluster

EXPECTED_TABLES = {"divisions", "plans", "grids", "addresses", "streets", "api_keys"}


def test_cluster_starts_from_an_empty_folder_and_stops(tmp_path):
    cluster = LocalCluster(tmp_path / "home")
    assert not cluster.is_running()
    url = cluster.start()
    try:
        assert cluster.is_running()
        engine = make_engine(url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT postgis_lib_version()")).scalar().startswith("3.")
            # UTF-8 with a UTF-8 ctype: trigrams of Chinese text are not empty.
            assert conn.execute(sa.text("SHOW server_encoding")).scalar() == "UTF8"
            assert conn.execute(sa.text("SELECT similarity('人民路12号', '人民路12号3幢')")).scalar() > 0.4
        engine.dispose()
        # starting again is a no-op that returns the same URL
        assert cluster.start() == url
    finally:
        assert cluster.stop() is True
    assert not cluster.is_running()
    assert cluster.stop() is False


def _tables(engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"spatial_ref_sys"}


def test_migrations_up_down_up(fresh_db_url):
    engine = make_engine(fresh_db_url)
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert _tables(engine) >= EXPECTED_TABLES
    indexes = {ix["name"] for ix in sa.inspect(engine).get_indexes("addresses")}
    assert {"ix_addresses_geom", "ix_addresses_full_text_trgm"} <= indexes

    migrate.downgrade(engine)
    assert migrate.current_revision(engine) is None
    assert _tables(engine) & EXPECTED_TABLES == set()

    migrate.upgrade(engine)
    assert _tables(engine) >= EXPECTED_TABLES
    engine.dispose()


def test_schema_rejects_malformed_codes_and_wrong_nesting(engine):
    square = "ST_Multi(ST_GeomFromText('POLYGON((120 31,120.01 31,120.01 31.01,120 31.01,120 31))', 4326))"
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"INSERT INTO divisions (code, name, level, parent_code, kind, boundary) "
                f"VALUES ('320508019044', '某社区', 'village', '320508019000', 'urban', {square})"
            )
        )
    bad_rows = [
        ("32050801904", "village", "320508019000"),  # 11 digits
        ("320508019045", "village", "320508018000"),  # parent is not its township prefix
        ("320508019046", "hamlet", None),  # unknown level
    ]
    for code, level, parent in bad_rows:
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(
                sa.text(
                    f"INSERT INTO divisions (code, name, level, parent_code, boundary) "
                    f"VALUES (:c, 'x', :l, :p, {square})"
                ),
                {"c": code, "l": level, "p": parent},
            )
