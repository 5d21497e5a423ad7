"""The Examples in the library's docstrings run and show what they claim."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import geogrid

# Migration scripts run only under Alembic.
_SKIP_PREFIXES = ("geogrid.db.migrations",)
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules_with_examples() -> list[str]:
    import api

    names = []
    packages = [
        *pkgutil.walk_packages(geogrid.__path__, prefix="geogrid."),
        *pkgutil.walk_packages(api.__path__, prefix="api."),
    ]
    for info in packages:
        if info.name.startswith(_SKIP_PREFIXES):
            continue
        module = importlib.import_module(info.name)
        # Examples marked +SKIP need a database or a server; they document, they don't run.
        runnable = [
            e
            for t in doctest.DocTestFinder().find(module)
            for e in t.examples
            if not e.options.get(doctest.SKIP)
        ]
        if runnable:
            names.append(info.name)
    return sorted(names)


MODULES = _modules_with_examples()


def test_the_library_documents_by_example():
    assert {"geogrid.partition", "geogrid.codes", "geogrid.heat", "geogrid.maps", "geogrid.rules"} <= set(
        MODULES
    )


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=_FLAGS, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples failed in {name}"
