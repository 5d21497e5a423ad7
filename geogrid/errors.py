"""Exceptions raised by geogrid.

Every error the library raises derives from :class:`GeogridError`, so a caller can
catch one class.  The API maps each class to an HTTP status in one table
(``api/errors.py``); keep the hierarchy flat and the messages specific: which row,
which field, why.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class GeogridError(Exception):
    """Base class of every error geogrid raises on purpose."""


class InvalidGeometryError(GeogridError):
    """A geometry is empty, invalid, of the wrong type or outside its CRS's valid area."""


class RuleViolationError(GeogridError):
    """A household rule is malformed (e.g. lower bound above upper bound)."""


class InfeasibleError(GeogridError):
    """A partition cannot satisfy its rule; ``reason`` says why in one line.

    ``details`` carries the evidence (e.g. the address ids above the upper bound).
    """

    def __init__(self, reason: str, *, details: dict | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details or {}


class GridCodeError(GeogridError):
    """A division or grid code is malformed, duplicated or wrongly nested."""


class NotFoundError(GeogridError):
    """A requested object (division, grid, plan, incident...) does not exist."""


class ConflictError(GeogridError):
    """The request conflicts with the current state (illegal transition, plan already published...)."""


class ActionForbiddenError(GeogridError):
    """The caller's role or scope does not allow this action on this object (HTTP 403): a
    grid worker outside their grids, a department on an incident not sent to it, a centre
    outside its division, the reporter verifying their own report (报办分离)."""


class PlanEditError(GeogridError):
    """An edit of a plan was refused because it would break contiguity, bounds or coverage."""


class DatabaseUnavailableError(GeogridError):
    """The PostGIS server could not be started or reached."""


@dataclass(frozen=True)
class RowError:
    """One rejected input row: 1-based row number in the source file, field and reason."""

    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, field {self.field!r}: {self.reason}"


@dataclass
class ImportRowsError(GeogridError):
    """An import found bad rows; nothing was written."""

    source: str
    errors: list[RowError] = field(default_factory=list)
    what: str = "nothing imported"  # what did not happen because of the bad rows

    def __str__(self) -> str:
        shown = "\n".join(f"  {e}" for e in self.errors[:20])
        more = len(self.errors) - 20
        tail = f"\n  ... and {more} more" if more > 0 else ""
        return f"{self.source}: {len(self.errors)} bad row(s), {self.what}:\n{shown}{tail}"


class InvalidCellError(GeogridError):
    """An H3 cell index is not a valid cell, or is coarser than the resolution asked for."""


class MapError(GeogridError):
    """A map could not be built as asked (bad option, missing column, unusable basemap)."""


class AssetsMissingError(MapError):
    """The vendored Leaflet scripts/styles are missing; the message names the setup command."""


class InputFileError(GeogridError):
    """An input file cannot be read as asked: missing, unknown format, no coordinate or key column."""


class LimitError(GeogridError):
    """An input is over a limit of the service: text too long, too many ids, JSON nested too
    deep, a number out of range (HTTP 400).  Messages are Chinese first (see :mod:`geogrid.limits`)."""


class PayloadTooLargeError(LimitError):
    """A request body or a batch is larger than its endpoint allows (HTTP 413)."""


class QueryTimeoutError(DatabaseUnavailableError):
    """A query ran past the per-statement time limit and was cancelled (HTTP 504)."""
