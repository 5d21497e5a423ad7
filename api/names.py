"""Chinese names next to codes: one convention for every answer.

A field that holds a code gets a sibling field with the code's Chinese name:

- ``code`` (and a statistics row's ``key``) → ``name``;
- ``<x>_code`` → ``<x>_name`` (``grid_code`` → ``grid_name``, ``division_code`` → ``division_name``);
- any other code field ``<x>`` → ``<x>_name`` (``status`` → ``status_name``, ``major`` →
  ``major_name``, ``source`` → ``source_name``).

Division and grid names come from the database (:func:`geogrid.db.names.code_names`, one
query per answer), department and centre names too (:func:`geogrid.db.organisation.names_of`:
``department`` → ``department_name``, ``centre_code`` → ``centre_name`` 金港街道综治中心),
category names from the catalogue, status/source/level/action labels from
:mod:`geogrid.incidents`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from geogrid import incidents as wf
from geogrid.db.names import code_names
from geogrid.db.organisation import names_of

__all__ = ["Names", "name_field"]


def name_field(key: str) -> str:
    """The field that carries the name of the code in field ``key``.

    Examples
    --------
    >>> name_field("code"), name_field("grid_code"), name_field("status"), name_field("key")
    ('name', 'grid_name', 'status_name', 'name')
    """
    if key in ("code", "key"):
        return "name"
    return key.removesuffix("_code") + "_name"


@dataclass(frozen=True)
class Names:
    """The names one answer needs: the catalogue and the names of its division/grid codes."""

    catalogue: wf.Catalogue
    codes: Mapping[str, str] = field(default_factory=dict)
    #: Names of department codes and centre codes (a centre's code is its division's).
    org: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def lookup(
        cls,
        engine: Engine,
        catalogue: wf.Catalogue,
        codes: Iterable[str | None],
        org: Iterable[str | None] = (),
    ) -> Names:
        org = list(org)
        return cls(catalogue, code_names(engine, codes), names_of(engine, org) if org else {})

    @classmethod
    def for_incidents(
        cls, engine: Engine, catalogue: wf.Catalogue, incidents: Iterable[Any], org: Iterable[str | None] = ()
    ) -> Names:
        """Names for incidents (anything with ``grid_code``, ``village_code``, ``township_code``,
        ``department``, ``centre_code``, ``summoned``) and for the department/centre codes ``org``."""
        incidents = list(incidents)
        codes = [c for i in incidents for c in (i.grid_code, i.village_code, i.township_code)]
        org_codes = [c for i in incidents for c in (i.department, i.centre_code, *i.summoned)]
        return cls.lookup(engine, catalogue, codes, [*org_codes, *org])

    def of(self, code: str | None) -> str | None:
        return self.codes.get(code) if code else None

    def org_name(self, code: str | None) -> str | None:
        """The name of a department or centre code."""
        return self.org.get(code) if code else None

    def add_org(self, doc: dict, *keys: str) -> dict:
        """Put the name of each department/centre code field in ``keys`` next to it."""
        for key in keys:
            if key in doc:
                doc[name_field(key)] = self.org_name(doc[key])
        return doc

    def add(self, doc: dict, *keys: str) -> dict:
        """Put the name of each division/grid code field in ``keys`` next to it."""
        for key in keys:
            if key in doc:
                doc[name_field(key)] = self.of(doc[key])
        return doc

    def incident(self, doc: dict) -> dict:
        """Names of an incident's codes (category, status, source, level, grid, village, township).

        Examples
        --------
        >>> doc = {"category": {"major": "MD", "minor": "MD01"}, "status": "accepted", "grid_code": None}
        >>> named = Names(wf.load_catalogue()).incident(doc)
        >>> named["category"]["minor_name"], named["status_name"], named["grid_name"]
        ('邻里纠纷', '已受理', None)
        """
        category = doc.get("category")
        if isinstance(category, dict):
            category["major_name"] = self.catalogue.name_of(category.get("major"))
            category["minor_name"] = self.catalogue.name_of(category.get("minor"))
        _label(doc, "status", wf.STATUS_NAMES)
        _label(doc, "source", wf.SOURCE_NAMES)
        _label(doc, "level", wf.LEVEL_NAMES)
        self.add(doc, "grid_code", "village_code", "township_code")
        self.add_org(doc, "department", "centre_code")
        for key in ("summoned", "summoned_now"):
            if key in doc:
                doc[f"{key}_names"] = [self.org_name(c) for c in doc[key]]
        for entry in doc.get("history") or ():
            self.history(entry)
            self.add_org(
                entry.get("details") or {}, "department", "from_department", "from_centre", "to_centre"
            )
        for merged in doc.get("merged") or ():
            for entry in merged.get("history") or ():
                self.history(entry)
        return doc

    @staticmethod
    def history(entry: dict) -> dict:
        _label(entry, "from", wf.STATUS_NAMES)
        _label(entry, "to", wf.STATUS_NAMES)
        _label(entry, "action", wf.ACTION_NAMES)
        details = entry.get("details")
        if isinstance(details, dict):
            _label(details, "from_level", wf.LEVEL_NAMES)
            _label(details, "to_level", wf.LEVEL_NAMES)
        return entry

    def category(self, doc: dict, key: str = "category") -> dict:
        """The name of a category code field (major or minor)."""
        if key in doc:
            doc[name_field(key)] = self.catalogue.name_of(doc[key])
        return doc

    def group(self, group_by: str, key: str | None) -> str | None:
        """The name of a statistics group key (a code, a department, a person, a source...).

        Examples
        --------
        >>> names = Names(wf.load_catalogue(), {"320508019000": "金港街道"})
        >>> names.group("township", "320508019000"), names.group("category", "FP"), names.group("source", "hotline")
        ('金港街道', '防返贫监测', '12345热线')
        """
        if key is None:
            return None
        if group_by in ("grid", "village", "township"):
            return self.of(key)
        if group_by in ("department", "centre"):
            return self.org_name(key) or key
        if group_by in ("category", "minor"):
            return self.catalogue.name_of(key)
        if group_by == "source":
            return wf.SOURCE_NAMES.get(key, key)
        if group_by == "none":
            return "全部"
        return key  # workers are kept by name


def _label(doc: dict, key: str, labels: Mapping[str, str]) -> None:
    if key in doc:
        value = doc[key]
        doc[name_field(key)] = labels.get(value, value) if value is not None else None
