"""Column names of the GeoDataFrames geogrid passes between its parts.

All frames are EPSG:4326 (lon/lat).  Metric work re-projects explicitly with
:func:`geogrid.crs.local_metric_crs`.

- divisions: ``code`` (12 digits), ``name``, ``level`` (``township``|``village``),
  ``parent_code``, ``kind`` (``urban``|``rural``), geometry (Polygon/MultiPolygon).
- addresses: ``address_id`` (str), ``households`` (int >= 0), ``full_text``, geometry (Point);
  optional components (see :data:`ADDRESS_COMPONENTS`).
- streets: ``name``, ``street_class`` (:data:`STREET_CLASSES`), geometry (LineString).
- grids (a plan): ``code`` (15/17 digits or None before coding), ``division_code``, ``level``,
  ``kind`` (``urban``|``rural``|``dedicated``), ``name``, ``households``, ``address_count``,
  geometry (Polygon).
"""

from __future__ import annotations

WGS84 = "EPSG:4326"

DIVISION_LEVELS = ("township", "village")
DIVISION_KINDS = ("urban", "rural")
GRID_KINDS = ("urban", "rural", "dedicated")
STREET_CLASSES = ("arterial", "street", "lane", "path")
# Wider streets are preferred as grid boundaries: weight of a street class as a cut line.
STREET_CLASS_WIDTH_M = {"arterial": 24.0, "street": 12.0, "lane": 5.0, "path": 2.5}

ADDRESS_COMPONENTS = (
    "province",
    "city",
    "county",
    "township",
    "village",
    "street",
    "house_number",
    "compound",
    "building",
    "unit",
    "room",
)

GRID_COLUMNS = ("code", "division_code", "level", "kind", "name", "households", "address_count")
