"""geogrid: grid-based community management (网格化服务管理) on GeoPandas and PostGIS.

The core (partition, validate, codes, heat, maps, io) needs no database; ``geogrid.db``
adds PostGIS storage.  Heavy parts are imported on first use so ``import geogrid`` stays
fast in a notebook.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from geogrid.errors import GeogridError
from geogrid.rules import HOUSEHOLD_LINKED, RURAL, URBAN, Rule, resolve_rule

__version__ = "0.1.0"

# public name -> module that defines it.  ``partition`` and ``validate`` are plain modules of
# the same names (``from geogrid.partition import partition``): a package attribute cannot be
# both a submodule and a function without making the module callable.
_LAZY = {
    "PartitionResult": "geogrid.partition",
    "partition_county": "geogrid.county",
    "ValidationReport": "geogrid.validate",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'geogrid' has no attribute {name!r}")


__all__ = [
    "HOUSEHOLD_LINKED",
    "RURAL",
    "URBAN",
    "GeogridError",
    "Rule",
    "resolve_rule",
    *_LAZY,
]
