"""Filters shared by listings, statistics and heatmaps, and what each reader may see."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from geogrid import incidents as wf
from geogrid.coords import BBox, check_bbox
from geogrid.errors import GeogridError


@dataclass(frozen=True)
class Filters:
    """Filters shared by listings, statistics and heatmaps (all optional, combined with AND).

    ``division`` is a division or grid code prefix (a township's 9 digits, a village's 12...):
    trailing ``000`` groups of county/township codes are stripped so ``320508019000`` means
    the whole township.
    """

    status: tuple[str, ...] = ()
    category: str | None = None  # major or minor category code(s), comma-separated
    source: str | None = None
    division: str | None = None
    grid_code: str | None = None
    department: str | None = None
    #: The centre (综治中心, its 12-digit division code) whose queue holds the incidents.
    centre: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    bbox: BBox | None = None
    #: Only these minor categories, never rejected or merged reports (the public view).
    public_codes: tuple[str, ...] | None = None
    #: Only what this actor may see (:func:`visibility_sql`).
    visible_to: wf.Actor | None = None

    def sql(self, params: dict[str, Any]) -> str:
        """``AND ...`` clauses over alias ``i`` with their parameters added to ``params``."""
        return self._filter_sql(params) + self._audience_sql(params)

    def _audience_sql(self, params: dict[str, Any]) -> str:
        out = public_sql(self.public_codes, params) if self.public_codes is not None else ""
        if self.visible_to is not None:
            out += visibility_sql(self.visible_to, params)
        return out

    def _filter_sql(self, params: dict[str, Any]) -> str:
        parts: list[str] = []
        if self.status:
            bad = [s for s in self.status if s not in wf.STATUSES]
            if bad:
                raise GeogridError(f"status {bad[0]!r} is not one of {list(wf.STATUSES)}")
            parts.append("i.status = ANY(CAST(:f_status AS text[]))")
            params["f_status"] = list(self.status)
        if self.category:
            # One code or a comma-separated list; major and minor codes may be mixed.
            parts.append(
                "(i.category_major = ANY(CAST(:f_cat AS text[])) OR i.category_minor = ANY(CAST(:f_cat AS text[])))"
            )
            params["f_cat"] = [c.strip() for c in self.category.split(",") if c.strip()]
        if self.source:
            parts.append("i.source = :f_source")
            params["f_source"] = self.source
        if self.division:
            prefix = division_prefix(self.division)
            parts.append("(i.grid_code LIKE :f_div OR i.village_code LIKE :f_div)")
            params["f_div"] = prefix + "%"
        if self.grid_code:
            parts.append("i.grid_code = :f_grid")
            params["f_grid"] = self.grid_code
        if self.department:
            parts.append("i.department = :f_dept")
            params["f_dept"] = self.department
        if self.centre:
            parts.append("i.centre_code = :f_centre")
            params["f_centre"] = self.centre
        if self.date_from is not None:
            parts.append("i.created_at >= :f_from")
            params["f_from"] = self.date_from
        if self.date_to is not None:
            parts.append("i.created_at < :f_to")
            params["f_to"] = self.date_to
        if self.bbox is not None:
            b = check_bbox(self.bbox)
            # ST_Intersects, not just &&: index boxes are float4, so && alone also admits points
            # a few centimetres outside the box.
            parts.append("ST_Intersects(i.location, ST_MakeEnvelope(:f_w, :f_s, :f_e, :f_n, 4326))")
            params.update(f_w=b.west, f_s=b.south, f_e=b.east, f_n=b.north)
        return "".join(" AND " + p for p in parts)


#: No filter at all (the default of every query).
NO_FILTERS = Filters()

#: Kept here for callers of the database layer; the rule lives in the pure workflow module.
division_prefix = wf.division_prefix


def visibility_sql(actor: wf.Actor, params: dict[str, Any], *, alias: str = "i") -> str:
    """``AND ...`` restricting ``alias`` to what ``actor`` may see (see :func:`geogrid.incidents.in_scope`):
    the role's part, inside the actor's division if it has one, or what the actor reported."""
    clauses = []
    if actor.role == "worker":
        # A grid's staff see its 17-digit sub-grids (联户) too.
        params["v_grids"] = [g + "%" for g in sorted(actor.grid_codes)]
        clauses.append(f"{alias}.grid_code LIKE ANY(CAST(:v_grids AS text[]))")
    elif actor.role == "department":
        params["v_dept"] = actor.department or ""
        clauses.append(
            f"({alias}.department = :v_dept OR EXISTS (SELECT 1 FROM summons s "
            f"JOIN summon_departments sd ON sd.summon_id = s.id "
            f"WHERE s.incident_id = {alias}.id AND sd.department_code = :v_dept))"
        )
    elif actor.role not in wf.READ_ALL_ROLES:
        clauses.append("FALSE")
    if actor.division is not None:
        params["v_div"] = actor.division + "%"
        clauses.append(f"({alias}.grid_code LIKE :v_div OR {alias}.village_code LIKE :v_div)")
    if not clauses:
        return ""
    params["v_me"] = actor.name
    return f" AND (({' AND '.join(clauses)}) OR {alias}.reporter_key_name = :v_me)"


def public_sql(public_codes: Sequence[str], params: dict[str, Any], *, alias: str = "i") -> str:
    """``AND ...`` restricting ``alias`` to what a public reader may see of other people's
    reports: public categories, not rejected, not merged."""
    params["p_codes"] = list(public_codes)
    return (
        f" AND {alias}.category_minor = ANY(CAST(:p_codes AS text[]))"
        f" AND {alias}.status NOT IN ('rejected', 'merged')"
    )
