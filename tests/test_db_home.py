"""One database per project, found from any working directory; no second cluster by accident.

The end-to-end test makes a project folder of its own (``mkdir .geogrid``), so it starts a
real cluster there instead of touching the checkout's: ``geogrid import`` from a data folder
deep inside the project, then a Python process using ``geogrid.db`` from ``notebooks/``, both
find the same database.  Before ``geogrid db start`` a command refuses in one line and creates
nothing; on a database without schema it says to run ``geogrid db migrate``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from geogrid.db.cluster import LocalCluster
from geogrid.db.home import HOME_DIR, find_home, is_checkout

REPO = Path(__file__).resolve().parents[1]
GEOGRID = Path(sys.executable).with_name("geogrid")


def _checkout(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text('[project]\nname = "geogrid"\n', encoding="utf-8")
    return folder


def test_home_order_env_checkout_project_folder_package_user(tmp_path):
    site = tmp_path / "site-packages" / "geogrid"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    # 4. nothing: the user's data folder
    assert find_home(cwd=elsewhere, package_dir=site, env=env).path == tmp_path / "xdg" / "geogrid"
    # 3. an editable install: the checkout it comes from, from any directory
    repo = _checkout(tmp_path / "repo")
    assert find_home(cwd=elsewhere, package_dir=repo / "geogrid", env=env).path == repo / HOME_DIR
    # 2. a project folder with .geogrid above the cwd
    project = tmp_path / "county"
    (project / HOME_DIR).mkdir(parents=True)
    (project / "data" / "2024").mkdir(parents=True)
    found = find_home(cwd=project / "data" / "2024", package_dir=repo / "geogrid", env=env)
    assert found.path == project / HOME_DIR and "project folder" in found.reason
    # ... but a checkout wins over a stray .geogrid below it (left in notebooks/ by old versions)
    (repo / "notebooks" / HOME_DIR).mkdir(parents=True)
    assert find_home(cwd=repo / "notebooks", package_dir=site, env=env).path == repo / HOME_DIR
    # 1. GEOGRID_HOME wins over everything
    assert find_home(cwd=repo, env={**env, "GEOGRID_HOME": str(tmp_path / "h")}).path == tmp_path / "h"


def test_this_checkout_is_the_home_of_its_tests():
    assert is_checkout(REPO)
    assert find_home(cwd=REPO / "notebooks", env={}).path == REPO / HOME_DIR
    assert find_home(cwd=Path("/"), package_dir=REPO / "geogrid", env={}).path == REPO / HOME_DIR


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GEOGRID_DATABASE_URL", "GEOGRID_HOME")}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_import_and_notebook_from_other_directories_share_one_database(tmp_path):
    project = tmp_path / "county"
    (project / HOME_DIR).mkdir(parents=True)
    raw = project / "data" / "raw"
    raw.mkdir(parents=True)
    (project / "notebooks").mkdir()
    csv = raw / "地址.csv"
    pd.DataFrame(
        {
            "编号": ["a1", "a2", "a3"],
            "地址": ["东街1号", "东街2号", "东街3号"],
            "户数": [3, 4, 5],
            "经度": [120.61, 120.62, 120.63],
            "纬度": [31.3] * 3,
        }
    ).to_csv(csv, index=False, encoding="gbk")
    cluster = LocalCluster(project / HOME_DIR)
    try:
        # No database yet: one line, nothing created.
        refused = _run([str(GEOGRID), "import", "addresses", str(csv)], cwd=raw)
        assert refused.returncode == 1 and "geogrid db start" in refused.stderr
        assert "Traceback" not in refused.stderr and not (cluster.data_dir / "PG_VERSION").exists()
        # A cluster without schema: one line asking for the migration.
        cluster.start()
        no_schema = _run([str(GEOGRID), "import", "addresses", str(csv)], cwd=raw)
        assert no_schema.returncode == 1 and "run `geogrid db migrate`" in no_schema.stderr
        assert "Traceback" not in no_schema.stderr and len(no_schema.stderr.strip().splitlines()) <= 2
        assert _run([str(GEOGRID), "db", "migrate"], cwd=project / "notebooks").returncode == 0
        # Import from the data folder, read from notebooks/ with the library: the same rows.
        done = _run([str(GEOGRID), "import", "addresses", str(csv), "--map", "编号=address_id"], cwd=raw)
        assert done.returncode == 0, done.stderr
        assert not (raw / HOME_DIR).exists()  # no cluster of the data folder's own
        reader = (
            "import sqlalchemy as sa\n"
            "from geogrid.db import database_url, make_engine\n"
            "with make_engine(database_url()).connect() as c:\n"
            "    print(c.execute(sa.text('SELECT string_agg(source_id, \\',\\' ORDER BY source_id) "
            "FROM addresses')).scalar())\n"
        )
        seen = _run([sys.executable, "-c", reader], cwd=project / "notebooks")
        assert seen.stdout.strip() == "a1,a2,a3", seen.stderr
        status = _run([str(GEOGRID), "db", "status"], cwd=project / "data")
        assert str(project / HOME_DIR) in status.stdout and "running: True" in status.stdout
    finally:
        cluster.stop()
