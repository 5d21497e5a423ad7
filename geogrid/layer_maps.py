"""Maps of a department layer over the base grids: its conflicts, and its proposed alignment.

Folium pages built like :mod:`geogrid.maps` (Leaflet embedded or linked from this service, no
CDN, a basemap only when given), so they work on an intranet and in a notebook alike.
"""

from __future__ import annotations

from typing import Any

import folium
import geopandas as gpd

from geogrid.layers import AlignmentProposal, ConflictReport
from geogrid.maps import (
    INLINE,
    Basemap,
    Legend,
    _as_wgs84,
    _features,
    _geojson_layer,
    _new_map,
    add_title,
)

__all__ = ["alignment_map", "layer_map"]

CONFLICT_COLORS = {
    "base": "#737373",
    "department": "#2166ac",
    "cut": "#f4a582",
    "gap": "#d6604d",
    "overlap": "#762a83",
    "outside": "#1a1a1a",
    "within": "#1b7837",
    "beyond": "#b2182b",
}
LABELS = {
    "department_grid": "部门网格 Department grid",
    "unit": "责任单位 Unit",
    "area_m2": "面积（平方米）Area m²",
    "households_original": "原户数 Households (original)",
    "households_aligned": "对齐后户数 Households (aligned)",
    "change": "户数变化 Change",
    "base_grids": "基础网格 Base grids",
    "grids": "涉及部门网格 Department grids",
}


def _outline(
    gdf: gpd.GeoDataFrame, *, name: str, color: str, weight: float, dash: str | None = None
) -> folium.GeoJson:
    props: dict[str, list[Any]] = {"code": gdf["code"].tolist()}
    if "name" in gdf.columns:
        props["name"] = gdf["name"].tolist()
    style = {"color": color, "weight": weight, "fillOpacity": 0.0}
    if dash:
        style["dashArray"] = dash
    return _geojson_layer(_features(gdf, props), name=name, style=style, fill_key=None, popup_labels=LABELS)


def _filled(
    gdf: gpd.GeoDataFrame, props: dict, *, name: str, color: str, opacity: float = 0.5
) -> folium.GeoJson:
    style = {"color": color, "fillColor": color, "weight": 1, "fillOpacity": opacity}
    return _geojson_layer(_features(gdf, props), name=name, style=style, fill_key=None, popup_labels=LABELS)


def layer_map(
    base: gpd.GeoDataFrame,
    layer: gpd.GeoDataFrame,
    report: ConflictReport,
    *,
    tiles: Basemap | tuple | None = None,
    assets: str = INLINE,
    title: str | None = None,
    subtitle: str | None = None,
) -> folium.Map:
    """The base grids, a department's grids over them and the conflicts of :func:`geogrid.layers.conflicts`.

    Base grids the department cuts through are filled; gaps, overlaps and parts outside the
    scope each get a layer of their own, with their area and households in the popups.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> from geogrid.layers import conflicts, prepare_layer
    >>> from geogrid.maps import external_urls, map_html
    >>> base = gpd.GeoDataFrame({"code": ["a", "b"], "households": [60, 40]},
    ...     geometry=[box(120.60, 31.30, 120.61, 31.31), box(120.61, 31.30, 120.62, 31.31)], crs=4326)
    >>> layer = gpd.GeoDataFrame({"code": ["D1"]}, geometry=[box(120.60, 31.30, 120.615, 31.31)], crs=4326)
    >>> m = layer_map(base, layer, conflicts(prepare_layer(base, layer)), title="综治网格与基础网格")
    >>> external_urls(map_html(m)), "Gaps (1)" in map_html(m)
    ([], True)
    """
    base, layer = _as_wgs84(base, "base"), _as_wgs84(layer, "layer")
    m = _new_map(base.total_bounds, tiles=tiles, assets=assets)
    cut = base[base["code"].astype(str).isin(report.cut_base_codes)]
    items = [
        (CONFLICT_COLORS["base"], "基础网格 Base grids"),
        (CONFLICT_COLORS["department"], "部门网格 Department grids"),
    ]
    if len(cut):
        grids = report.cuts.groupby("base_code")["department_code"].apply(lambda s: "、".join(sorted(s)))
        props = {"code": cut["code"].tolist(), "grids": [grids.get(c, "") for c in cut["code"].astype(str)]}
        _filled(
            cut, props, name=f"被切割的基础网格 Cut base grids ({len(cut)})", color=CONFLICT_COLORS["cut"]
        ).add_to(m)
    items.append((CONFLICT_COLORS["cut"], f"被切割 Cut ({len(cut)})"))
    _outline(base, name="基础网格 Base grids", color=CONFLICT_COLORS["base"], weight=1).add_to(m)
    _outline(
        layer, name="部门网格 Department grids", color=CONFLICT_COLORS["department"], weight=2.5, dash="6 4"
    ).add_to(m)
    for kind, frame, label in (
        ("gap", report.gaps, "空白 Gaps"),
        ("overlap", report.overlaps, "重叠 Overlaps"),
        ("outside", report.outside, "界外 Outside"),
    ):
        items.append((CONFLICT_COLORS[kind], f"{label} ({len(frame)})"))
        if len(frame):
            props = {c: frame[c].tolist() for c in frame.columns if c != "geometry"}
            props["area_m2"] = [round(v) for v in frame["area_m2"]]
            props["households"] = [round(v, 1) for v in frame["households"]]
            _filled(
                frame, props, name=f"{label} ({len(frame)})", color=CONFLICT_COLORS[kind], opacity=0.6
            ).add_to(m)
    Legend([("部门网格与基础网格 Department layer vs base grids", items)]).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return add_title(m, title, subtitle)


def alignment_map(
    layer: gpd.GeoDataFrame,
    proposal: AlignmentProposal,
    *,
    tiles: Basemap | tuple | None = None,
    assets: str = INLINE,
    title: str | None = None,
    subtitle: str | None = None,
) -> folium.Map:
    """A proposed aligned layer (whole base grids) over the department's original grids.

    Aligned grids are green when their households stay within the tolerance of the original,
    red otherwise; the originals are dashed outlines.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> from geogrid.layers import align, prepare_layer
    >>> from geogrid.maps import map_html
    >>> base = gpd.GeoDataFrame({"code": ["a", "b"], "households": [60, 40]},
    ...     geometry=[box(120.60, 31.30, 120.61, 31.31), box(120.61, 31.30, 120.62, 31.31)], crs=4326)
    >>> layer = gpd.GeoDataFrame({"code": ["D1", "D2"]}, crs=4326,
    ...     geometry=[box(120.60, 31.30, 120.612, 31.31), box(120.612, 31.30, 120.62, 31.31)])
    >>> "Beyond 5% (2)" in map_html(alignment_map(layer, align(prepare_layer(base, layer))))
    True
    """
    layer = _as_wgs84(layer, "layer")
    grids = proposal.grids
    m = _new_map(layer.total_bounds, tiles=tiles, assets=assets)
    within = grids["within_tolerance"].astype(bool).to_numpy() if len(grids) else []
    props = {
        "code": grids["code"].tolist(),
        "name": grids["name"].tolist() if "name" in grids else grids["code"].tolist(),
        "households_original": [round(v) for v in grids["households_original"]],
        "households_aligned": [round(v) for v in grids["households_aligned"]],
        "change": [f"{v:+.1%}" for v in grids["change_share"]],
        "base_grids": ["、".join(c) for c in grids["base_codes"]],
    }
    colors = [CONFLICT_COLORS["within"] if w else CONFLICT_COLORS["beyond"] for w in within]
    fc = _features(grids, {**props, "_fill": colors})
    style = {"color": "#333333", "weight": 1.5, "fillOpacity": 0.45}
    _geojson_layer(fc, name="对齐后 Aligned", style=style, fill_key="_fill", popup_labels=LABELS).add_to(m)
    _outline(
        layer, name="原部门网格 Original", color=CONFLICT_COLORS["department"], weight=2.5, dash="6 4"
    ).add_to(m)
    tol = f"{proposal.tolerance:.0%}"
    items = [
        (CONFLICT_COLORS["within"], f"户数变化不超过 {tol} Within {tol} ({int(sum(within))})"),
        (CONFLICT_COLORS["beyond"], f"户数变化超过 {tol} Beyond {tol} ({len(grids) - int(sum(within))})"),
        (CONFLICT_COLORS["department"], "原部门网格 Original grids"),
    ]
    Legend([("对齐方案 Alignment", items)]).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return add_title(m, title, subtitle)
