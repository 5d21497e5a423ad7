"""The incident category catalogue (网格事项清单): major and minor categories, time limits, departments.

Pure: a JSON file in, a :class:`Catalogue` out.  The default catalogue is the grid-duty list
shipped as package data (``geogrid/data/incident_categories.json``, read with
:mod:`importlib.resources`, so an installed geogrid finds it wherever it lives); ``urban`` is
a city-management list; a county replaces it with its own file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

from geogrid.errors import GeogridError


def check_aware(t: datetime, name: str) -> None:
    """Raise :class:`GeogridError` unless ``t`` is a timezone-aware datetime."""
    if not isinstance(t, datetime) or t.tzinfo is None:
        raise GeogridError(f"{name} must be a timezone-aware datetime, got {t!r}")


#: The catalogues shipped as package data (``geogrid/data``), by the name settings may give.
SHIPPED_CATALOGUES: dict[str, str] = {
    "grid_duties": "incident_categories.json",  # the default: the grid-duty list (网格事项清单)
    "urban": "incident_categories_urban.json",  # a city-management list
}


class CategoryError(GeogridError):
    """An unknown category code, or a malformed catalogue file."""


# --- categories and time limits --------------------------------------------------------------------


@dataclass(frozen=True)
class Category:
    """A minor category (小类) with its major category (大类), time limits and department."""

    code: str
    name: str
    name_en: str
    major_code: str
    major_name: str
    major_name_en: str
    department: str
    accept_hours: float
    complete_hours: float
    # Whether incidents of this category may be shown to anonymous readers (a notice board):
    # False for categories that name or expose people (disputes, vulnerable people...).
    public: bool = False


@dataclass(frozen=True)
class Deadlines:
    accept_due: datetime
    complete_due: datetime


@dataclass(frozen=True)
class Catalogue:
    """The category catalogue: minor categories by code, in file order."""

    categories: dict[str, Category]
    majors: dict[str, tuple[str, str]]  # code -> (name, name_en)

    def get(self, code: str) -> Category:
        """The minor category ``code`` (or with that Chinese name); :class:`CategoryError` otherwise.

        Examples
        --------
        >>> cat = load_catalogue()
        >>> cat.get("MD01").name, cat.get("邻里纠纷").code
        ('邻里纠纷', 'MD01')
        """
        found = self.categories.get(code) or self.categories.get(self._code_of_name().get(code, ""))
        if found is None:
            raise CategoryError(
                f"unknown category {code!r}; use a minor category code or name such as "
                f"{', '.join(f'{c.code} {c.name}' for c in list(self.categories.values())[:4])} "
                "(GET /open311/v2/services.json lists all)"
            )
        return found

    def _code_of_name(self) -> dict[str, str]:
        names = {c.name: c.code for c in self.categories.values()}
        names.update({name: code for code, (name, _en) in self.majors.items()})
        return names

    def code_of(self, text: str) -> str:
        """The major or minor category code that ``text`` names (a code or a Chinese name).

        Examples
        --------
        >>> cat = load_catalogue()
        >>> cat.code_of("矛盾纠纷"), cat.code_of("MD"), cat.code_of("邻里纠纷")
        ('MD', 'MD', 'MD01')
        """
        text = text.strip()
        if text in self.categories or text in self.majors:
            return text
        code = self._code_of_name().get(text)
        if code is None:
            raise CategoryError(
                f"unknown category {text!r}; give a major or minor category code or its Chinese name, "
                f"e.g. {', '.join(f'{c} {n}' for c, (n, _en) in list(self.majors.items())[:4])}"
            )
        return code

    def name_of(self, code: str | None) -> str | None:
        """The Chinese name of a major or minor category code (None for an unknown code).

        Examples
        --------
        >>> load_catalogue().name_of("FP")
        '防返贫监测'
        """
        if code is None:
            return None
        if code in self.categories:
            return self.categories[code].name
        major = self.majors.get(code)
        return major[0] if major else None

    def __iter__(self):
        return iter(self.categories.values())

    def __len__(self) -> int:
        return len(self.categories)

    @property
    def public_codes(self) -> tuple[str, ...]:
        """Minor codes of the public categories (in file order).

        Examples
        --------
        >>> cat = load_catalogue()
        >>> "HW01" in cat.public_codes, "MD02" in cat.public_codes
        (True, False)
        """
        return tuple(c.code for c in self if c.public)

    def deadlines(self, code: str, created_at: datetime) -> Deadlines:
        """Due dates of an incident of category ``code`` created at ``created_at``.

        Examples
        --------
        >>> from datetime import datetime, timezone
        >>> cat = load_catalogue()
        >>> d = cat.deadlines("CG01", datetime(2024, 5, 1, 9, tzinfo=timezone.utc))
        >>> d.accept_due.hour, (d.complete_due - d.accept_due).total_seconds() / 3600
        (17, 16.0)
        """
        check_aware(created_at, "created_at")
        c = self.get(code)
        return Deadlines(
            created_at + timedelta(hours=c.accept_hours), created_at + timedelta(hours=c.complete_hours)
        )


def _read_catalogue(path: str | Path | None) -> tuple[str, dict]:
    """The name and parsed JSON of a catalogue file or of a shipped catalogue."""
    shipped = SHIPPED_CATALOGUES.get(str(path) if path is not None else "grid_duties")
    if shipped is not None:
        # Package data, so an installed geogrid finds it wherever it lives.
        source = resources.files("geogrid") / "data" / shipped
        label = shipped
    else:
        source = Path(str(path))
        label = source.name
    try:
        return label, json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CategoryError(
            f"incident catalogue {path} does not exist (shipped ones: {', '.join(SHIPPED_CATALOGUES)})"
        ) from None
    except json.JSONDecodeError as exc:
        raise CategoryError(f"incident catalogue {path} is not valid JSON: {exc}") from None


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Read a category catalogue (JSON; see ``geogrid/data/incident_categories.json``).

    Each major category has ``code``, ``name``, ``name_en``, ``department``, ``public`` and
    ``minors``; each minor ``code``, ``name``, ``name_en`` and optionally ``accept_hours``,
    ``complete_hours``, ``department`` and ``public`` (defaults: the file's ``defaults``, 8 h
    to accept, the major's department and publicity; a major without ``public`` is private).
    Chinese names are unique, so a category can be given by its name as well as its code.

    Parameters
    ----------
    path
        A catalogue file, or the name of a shipped one (:data:`SHIPPED_CATALOGUES`:
        ``grid_duties``, the default, or ``urban``).

    Raises
    ------
    CategoryError
        When the file is missing or malformed (the message names the entry and the field).

    Examples
    --------
    >>> cat = load_catalogue()
    >>> cat.get("MD01").major_name, cat.get("MD01").accept_hours, cat.get("MD01").public
    ('矛盾纠纷', 8.0, False)
    >>> load_catalogue("urban").get("HW01").major_name
    '环境卫生'
    """
    label, raw = _read_catalogue(path)
    p = Path(label)
    defaults = raw.get("defaults") or {}
    d_accept = float(defaults.get("accept_hours", 8))
    d_complete = float(defaults.get("complete_hours", 72))
    categories: dict[str, Category] = {}
    majors: dict[str, tuple[str, str]] = {}
    for i, major in enumerate(raw.get("majors") or []):
        where = f"{p.name}: majors[{i}]"
        for key in ("code", "name", "minors"):
            if not major.get(key):
                raise CategoryError(f"{where} has no {key!r}")
        mcode = str(major["code"])
        if mcode in majors:
            raise CategoryError(f"{where}: duplicate major code {mcode!r}")
        _check_public(major, where)
        majors[mcode] = (major["name"], major.get("name_en", major["name"]))
        for j, minor in enumerate(major["minors"]):
            w = f"{where}.minors[{j}]"
            for key in ("code", "name"):
                if not minor.get(key):
                    raise CategoryError(f"{w} has no {key!r}")
            code = str(minor["code"])
            if code in categories:
                raise CategoryError(f"{w}: duplicate minor code {code!r}")
            accept = float(minor.get("accept_hours", d_accept))
            complete = float(minor.get("complete_hours", d_complete))
            if not 0 < accept <= complete:
                raise CategoryError(
                    f"{w} ({code}): need 0 < accept_hours <= complete_hours, got {accept}, {complete}"
                )
            dept = minor.get("department") or major.get("department")
            if not dept:
                raise CategoryError(f"{w} ({code}): no responsible department")
            _check_public(minor, w)
            categories[code] = Category(
                code=code,
                name=minor["name"],
                name_en=minor.get("name_en", minor["name"]),
                major_code=mcode,
                major_name=major["name"],
                major_name_en=major.get("name_en", major["name"]),
                department=str(dept),
                accept_hours=accept,
                complete_hours=complete,
                public=bool(minor.get("public", major.get("public", False))),
            )
    if not categories:
        raise CategoryError(f"incident catalogue {p} defines no categories")
    _check_unique_names(p.name, categories, majors)
    return Catalogue(categories, majors)


def _check_public(entry: dict, where: str) -> None:
    if "public" in entry and not isinstance(entry["public"], bool):
        raise CategoryError(f"{where}: 'public' must be true or false, got {entry['public']!r}")


def _check_unique_names(
    label: str, categories: dict[str, Category], majors: dict[str, tuple[str, str]]
) -> None:
    # Categories can be given by name: a name meaning two categories would make that ambiguous.
    seen: dict[str, str] = {}
    named = [(code, name) for code, (name, _en) in majors.items()] + [
        (c.code, c.name) for c in categories.values()
    ]
    for code, name in named:
        if name in seen:
            raise CategoryError(f"{label}: categories {seen[name]} and {code} have the same name {name!r}")
        if name in majors or name in categories:
            raise CategoryError(f"{label}: the name of category {code} is also a category code: {name!r}")
        seen[name] = code
