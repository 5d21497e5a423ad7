"""The incident catalogues, the role set and the SQL ship as package data: an installed geogrid
(a wheel, not this checkout) finds them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import json, geogrid.incidents as wf, geogrid.organisation as org, geogrid.db as db
print(json.dumps({
    "from": wf.__file__,
    "catalogue": len(wf.load_catalogue()),
    "urban": len(wf.load_catalogue("urban")),
    "roles": [r.name for r in org.load_roles()],
    "sql": "INSERT INTO incidents" in db.load_sql("incident_insert"),
}, ensure_ascii=False))
"""


def test_catalogue_roles_and_sql_load_from_a_built_wheel(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "static", "*.egg-info")
    for package in ("geogrid", "api"):
        shutil.copytree(ROOT / package, source / package, ignore=ignore)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            ".",
        ],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("geogrid-*.whl")
    # Outside the checkout, with the wheel first on the path: the modules come from the wheel.
    found = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=tmp_path,
        env={"PYTHONPATH": str(wheel), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    answer = json.loads(found.stdout)
    assert answer["from"].startswith(str(wheel))
    assert answer["catalogue"] > 50 and answer["urban"] > 20 and answer["sql"]
    assert answer["roles"][:2] == ["网格长", "专职网格员"] and "联户长" in answer["roles"]
