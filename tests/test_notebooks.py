"""The planner notebooks run end to end against the test database, and are committed clean.

Notebook 02 re-draws the plan notebook 01 published, so both run in one test, in order,
on the session's throwaway PostGIS database (``GEOGRID_DATABASE_URL`` in the kernel's
environment).  The kernel is ``python3``: jupyter_client starts a kernel spec whose command
is ``python`` with this very interpreter (the project's virtualenv), so the notebooks
import the geogrid under test.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from geogrid.db import ENV_URL

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ORDER = ("01_partition.ipynb", "02_redraw.ipynb")
# Villages one after another in the kernel: a Dask cluster would only add start-up time here.
PARAMETERS = {"01_partition.ipynb": {"SCHEDULER": "synchronous"}}


def _with_parameters(nb: nbformat.NotebookNode, values: dict[str, object]) -> nbformat.NotebookNode:
    """Append assignments to the cell tagged ``parameters`` (papermill's convention)."""
    if not values:
        return nb
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source += "\n# injected by tests/test_notebooks.py\n" + "\n".join(
        f"{name} = {value!r}" for name, value in values.items()
    )
    return nb


def _run(path: Path, tmp_path: Path) -> nbformat.NotebookNode:
    nb = _with_parameters(nbformat.read(path, as_version=4), PARAMETERS.get(path.name, {}))
    client = NotebookClient(
        nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError naming the failing cell and its traceback
    return nb


def _stream_text(cell) -> str:
    """All printed text of a cell: a slow cell's prints can arrive as several stream outputs."""
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


@pytest.mark.notebook
def test_planner_notebooks_run_against_the_database(db_url, engine, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_URL, db_url)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    timings = {}
    for name in ORDER:
        started = time.perf_counter()
        nb = _run(NOTEBOOKS / name, tmp_path)
        timings[name] = time.perf_counter() - started
        errors = [
            o
            for c in nb.cells
            if c.cell_type == "code"
            for o in c.get("outputs", [])
            if o.output_type == "error"
        ]
        assert not errors, errors
        outputs = "\n".join(json.dumps(c.get("outputs", []), ensure_ascii=False) for c in nb.cells)
        if name == "02_redraw.ipynb":
            # The edited village validates; the refused edit shows its reason; the stored
            # plan equals the edited one.
            checked = next(c for c in nb.cells if c.source.startswith("after ="))
            assert "): OK" in _stream_text(checked), checked.outputs
            assert (
                "above the rural upper bound 100" in outputs or "above the urban upper bound 500" in outputs
            )
            assert "0 added, 0 removed, 0 changed" in outputs
            # The diff's numbers add up and the growth scenario is repaired with the least change.
            assert "households moved" in outputs and "since the old plan was counted" in outputs
            kept = next(c for c in nb.cells if c.source.startswith("def kept_exactly"))
            text = _stream_text(kept)
            repair, fresh = (int(x) for x in re.findall(r"(?:repair|recode) (\d+)", text))
            assert repair > fresh and "): OK" in text, text
    # The plan published by 02 was rolled back: the first plan is published again.
    from geogrid.db import plans as db_plans

    infos = db_plans.list_plans(engine, scope_code="320506000000")
    assert [(i.version, i.status) for i in infos] == [(2, "retired"), (1, "published")]
    print(timings)


def test_committed_notebooks_carry_no_outputs():
    for name in ORDER:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{name} has outputs: strip them"
