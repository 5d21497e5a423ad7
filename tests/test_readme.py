"""The README's notebook example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_notebook_example_runs():
    text = README.read_text(encoding="utf-8")
    block = re.search(r"## In a notebook.*?```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    result = namespace["result"]
    assert result.report.ok
    assert result.grids["households"].between(50, 100).all()
    assert result.grids["code"].str.fullmatch(r"320508201201\d{3}").all()


def test_the_two_commands_exist():
    text = README.read_text(encoding="utf-8")
    for script in ("scripts/run.sh", "scripts/test.sh"):
        assert f"bash {script}" in text
        assert (README.parent / script).exists()
    assert "scripts/test.sh" in (README.parent / ".ci" / "run").read_text()
