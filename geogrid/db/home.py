"""Where the project's database lives: one home per project, whatever the working directory.

The CLI, the library (:func:`geogrid.db.database_url`), notebooks and the server all call
:func:`find_home`, so ``geogrid import`` run from a data folder, a notebook run from
``notebooks/`` and ``geogrid serve`` run from the checkout use the same cluster.  The home is,
in this order:

1. ``$GEOGRID_HOME``;
2. the project root found by walking up from the working directory: the nearest folder that
   is a geogrid checkout (its ``pyproject.toml`` names the ``geogrid`` project), else the
   nearest folder holding a ``.geogrid`` folder (``mkdir .geogrid`` makes any folder a
   project with a database of its own) → ``<root>/.geogrid``;
3. the checkout geogrid is installed from (an editable install) → ``<checkout>/.geogrid``;
4. the user's data folder (``$XDG_DATA_HOME/geogrid``, by default ``~/.local/share/geogrid``).

A checkout wins over ``.geogrid`` folders below it: older versions left such folders in
``notebooks/`` or data folders, and they must not split the project's data.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

ENV_HOME = "GEOGRID_HOME"
HOME_DIR = ".geogrid"


@dataclass(frozen=True)
class Home:
    """The folder of the project's cluster and why it was chosen (for ``geogrid db status``)."""

    path: Path
    reason: str


def is_checkout(folder: Path) -> bool:
    """True when ``folder`` holds the ``pyproject.toml`` of the geogrid project itself."""
    pyproject = folder / "pyproject.toml"
    if not pyproject.is_file():
        return False
    try:
        return (
            tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("name") == "geogrid"
        )
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False


def _project_root(start: Path) -> tuple[Path, str] | None:
    nearest_home: Path | None = None
    for folder in (start, *start.parents):
        if is_checkout(folder):
            return folder, f"the geogrid checkout above {start}"
        if nearest_home is None and (folder / HOME_DIR).is_dir():
            nearest_home = folder
    if nearest_home is not None:
        return nearest_home, f"the project folder holding {HOME_DIR} above {start}"
    return None


def user_data_home(env: dict[str, str] | os._Environ[str] | None = None) -> Path:
    """``$XDG_DATA_HOME/geogrid`` or ``~/.local/share/geogrid``."""
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "geogrid"


def find_home(
    *,
    cwd: Path | None = None,
    package_dir: Path | None = None,
    env: dict[str, str] | os._Environ[str] | None = None,
) -> Home:
    """The home folder of the project's database (see the module docstring for the order).

    ``cwd``, ``package_dir`` (the folder of the ``geogrid`` package) and ``env`` default to
    the process's; tests pass their own.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / ".geogrid").mkdir(); (root / "data" / "raw").mkdir(parents=True)
    >>> home = find_home(cwd=root / "data" / "raw", package_dir=root / "site", env={})
    >>> home.path == root / ".geogrid"
    True
    """
    env = os.environ if env is None else env
    if env.get(ENV_HOME):
        return Home(Path(env[ENV_HOME]).expanduser().resolve(), f"${ENV_HOME}")
    start = (cwd or Path.cwd()).resolve()
    found = _project_root(start)
    if found is not None:
        return Home(found[0] / HOME_DIR, found[1])
    package_dir = (package_dir or Path(__file__).resolve().parents[1]).resolve()
    if is_checkout(package_dir.parent):
        return Home(package_dir.parent / HOME_DIR, "the checkout geogrid is installed from")
    return Home(user_data_home(env), "the user's data folder (no project found)")
