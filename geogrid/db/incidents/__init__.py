"""Incidents in PostGIS: report, act under a row lock, merge, summon, list, count, heat.

The workflow rules live in :mod:`geogrid.incidents` (pure); the modules of this package apply
them inside one transaction per change, so an incident's row and its history row are written
together or not at all, and two people acting on the same incident at once are serialised by
``SELECT ... FOR UPDATE`` (the second sees the first one's result and gets a 409 if its action
is no longer legal).  By concern:

- :mod:`~geogrid.db.incidents.records` — the stored incident, its history and photos;
- :mod:`~geogrid.db.incidents.reporting` — placing and storing a new report;
- :mod:`~geogrid.db.incidents.actions` — transitions (dispatch, 吹哨报到, 督办 ...) and merges;
- :mod:`~geogrid.db.incidents.summons` and :mod:`~geogrid.db.incidents.oversight` — who was
  summoned and came on time, 督办 and deadline flags;
- :mod:`~geogrid.db.incidents.filters` and :mod:`~geogrid.db.incidents.listing` — who sees what;
- :mod:`~geogrid.db.incidents.duplicates`, :mod:`~geogrid.db.incidents.stats`,
  :mod:`~geogrid.db.incidents.heatmaps`, :mod:`~geogrid.db.incidents.bulk`,
  :mod:`~geogrid.db.incidents.audit`.

Everything public is importable from this package as before (``from geogrid.db import
incidents as store; store.transition(...)``).  Every function takes the engine (or a
connection) explicitly and a ``now`` for the clock, so tests and back-fills control time.
"""

from __future__ import annotations

from geogrid.db.incidents.actions import ActionRequest, merge, transition
from geogrid.db.incidents.audit import ContactRead, contact_reads, record_contact_read
from geogrid.db.incidents.bulk import import_incidents
from geogrid.db.incidents.duplicates import Duplicate, duplicates
from geogrid.db.incidents.filters import Filters, division_prefix, public_sql, visibility_sql
from geogrid.db.incidents.heatmaps import (
    GridRate,
    grid_rates,
    grid_rates_geojson,
    heat_cells,
    heat_tile,
    tile_bbox,
)
from geogrid.db.incidents.listing import Page, list_incidents, overdue
from geogrid.db.incidents.oversight import RaisedFlag, Supervision, flags_of, supervisions_of
from geogrid.db.incidents.partitions import Partition, ensure_ahead, ensure_months, partitions
from geogrid.db.incidents.records import (
    Created,
    HistoryEntry,
    IdempotencyConflictError,
    Incident,
    NewIncident,
    NewPhoto,
    Photo,
    get,
    get_many,
    history,
    merged_ids,
    photos,
)
from geogrid.db.incidents.reporting import (
    AddressMatch,
    Placement,
    create,
    fingerprint,
    place,
    resolve_address,
)
from geogrid.db.incidents.stats import (
    LOCAL_TZ,
    RANK_BY,
    STAT_GROUPS,
    STAT_PERIODS,
    StatRow,
    rank_rows,
    statistics,
)
from geogrid.db.incidents.summons import SummonedDepartment, Summons, summons_of

__all__ = [
    "LOCAL_TZ",
    "RANK_BY",
    "STAT_GROUPS",
    "STAT_PERIODS",
    "ActionRequest",
    "AddressMatch",
    "ContactRead",
    "Created",
    "Duplicate",
    "Filters",
    "GridRate",
    "HistoryEntry",
    "IdempotencyConflictError",
    "Incident",
    "NewIncident",
    "NewPhoto",
    "Page",
    "Partition",
    "Photo",
    "Placement",
    "RaisedFlag",
    "StatRow",
    "SummonedDepartment",
    "Summons",
    "Supervision",
    "contact_reads",
    "create",
    "division_prefix",
    "duplicates",
    "ensure_ahead",
    "ensure_months",
    "fingerprint",
    "flags_of",
    "get",
    "get_many",
    "grid_rates",
    "grid_rates_geojson",
    "heat_cells",
    "heat_tile",
    "history",
    "import_incidents",
    "list_incidents",
    "merge",
    "merged_ids",
    "overdue",
    "partitions",
    "photos",
    "place",
    "public_sql",
    "rank_rows",
    "record_contact_read",
    "resolve_address",
    "statistics",
    "summons_of",
    "supervisions_of",
    "tile_bbox",
    "transition",
    "visibility_sql",
]
