"""Folium maps of grids, incident heat and plan changes that work with no internet.

Folium's ``Map`` links Leaflet, jQuery, Bootstrap, Font Awesome and awesome-markers from CDNs,
its ``HeatMap`` plugin links its script from a CDN, and branca colormap legends load d3 from a
CDN.  Government intranets reach none of them, so every builder here:

- clears ``default_js`` / ``default_css`` on the map (and on the heat layer) and adds only
  Leaflet (and leaflet.heat when used) from :mod:`geogrid.assets` -- embedded in the page with
  ``assets="inline"`` (notebooks, files opened from disk) or linked under a URL prefix such as
  ``assets="/static/vendor"`` (the API);
- draws legends as plain HTML/CSS in a Leaflet control (no branca colormap, no d3);
- draws no basemap unless ``tiles=`` names one (an internal or Tianditu tile server).

:func:`external_urls` lists any http(s) resource a page would still fetch; the tests assert it
is empty for every builder in both modes.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import folium
import numpy as np
import pandas as pd
from branca.element import Element, MacroElement
from folium.template import Template

from geogrid import assets as _assets
from geogrid.errors import MapError
from geogrid.frames import WGS84
from geogrid.rules import Rule, resolve_rule

INLINE = "inline"

STATUS_COLORS = {
    "below": "#4575b4",  # fewer households than the rule's lower bound
    "within": "#1a9850",
    "above": "#d73027",  # more households than the upper bound
    "unknown": "#9e9e9e",
}
CHANGE_COLORS = {
    "added": "#1a9850",
    "removed": "#d73027",
    "changed": "#fd8d3c",
    "unchanged": "#9e9e9e",
}
# ColorBrewer YlOrRd, 5 classes: incident heat (and any numeric column by default).
CHANGE_NAMES = {"added": "新增", "removed": "撤销", "changed": "调整", "unchanged": "未变"}
SEQUENTIAL = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
HEAT_PALETTE = SEQUENTIAL
# ColorBrewer BuPu, 5 classes: KPI choropleths, so they never read as heat on the same map.
KPI_PALETTE = ("#edf8fb", "#b3cde3", "#8c96c6", "#8856a7", "#810f7c")
# ColorBrewer RdBu, 5 classes, diverging around the middle of the household bounds: too few
# households blue, too many red, and within the bounds light shades that still tell a grid
# near the lower bound from one near the upper bound.
HOUSEHOLD_COLORS = {
    "below": "#0571b0",
    "low": "#92c5de",
    "mid": "#f7f7f7",
    "high": "#f4a582",
    "above": "#ca0020",
    "unknown": "#bdbdbd",
}
HOUSEHOLD_LABELS = {
    "below": "低于下限",
    "low": "偏少",
    "mid": "适中",
    "high": "偏多",
    "above": "超过上限",
    "unknown": "无户数标准",
}
NO_DATA_COLOR = "#d9d9d9"
# leaflet.heat colour stops (intensity -> colour), also shown in the legend.
HEAT_GRADIENT = {0.4: "#0000ff", 0.6: "#00ffff", 0.7: "#00ff00", 0.8: "#ffff00", 1.0: "#ff0000"}
HEAD_COLUMNS = ("head", "head_name", "grid_head")
LABELS = {
    "code": "编码 Code",
    "name": "名称 Name",
    "head": "网格长 Head",
    "households": "户数 Households",
    "status": "规模 Size against the bounds",
    "change": "变化 Change",
    "households_before": "原户数 Households before",
    "households_after": "现户数 Households after",
    "households_moved": "迁移户数 Households moved",
    "count": "事件数 Incidents",
}
KIND_NAMES = {"urban": "城镇", "rural": "农村", "dedicated": "专属"}


class Basemap(NamedTuple):
    """A tile basemap: URL template with ``{z}/{x}/{y}`` (and ``{s}`` for subdomains).

    Examples
    --------
    >>> Basemap("https://tiles.example.gov.cn/{z}/{x}/{y}.png", "© internal GIS").name
    'basemap'
    """

    url: str
    attribution: str
    name: str = "basemap"
    max_zoom: int = 18
    subdomains: str | Sequence[str] | None = None
    #: An overlay of place names drawn over the basemap (Tianditu serves them separately).
    labels_url: str | None = None


def tianditu_basemap(key: str, *, layer: str = "vec") -> Basemap:
    """The Tianditu (天地图) basemap from its WMTS service, with its place-name overlay.

    Tianditu is the national basemap of the Ministry of Natural Resources; it needs a key
    (``tk``) from https://console.tianditu.gov.cn.  Its tiles are in CGCS2000, which agrees
    with WGS-84 to centimetres, so grids stored in EPSG:4326 sit on it without a shift (unlike
    GCJ-02 basemaps such as AMap's).  ``layer``: ``vec`` (map) or ``img`` (imagery).

    Examples
    --------
    >>> b = tianditu_basemap("0123abcd")
    >>> "LAYER=vec" in b.url and "tk=0123abcd" in b.url and "LAYER=cva" in b.labels_url
    True
    """
    if layer not in ("vec", "img"):
        raise MapError(f"Tianditu layer must be 'vec' or 'img', got {layer!r}")
    if not key or not str(key).strip():
        raise MapError("Tianditu needs a key (tk): register at https://console.tianditu.gov.cn")
    labels = {"vec": "cva", "img": "cia"}[layer]

    def wmts(name: str) -> str:
        return (
            f"https://t{{s}}.tianditu.gov.cn/{name}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
            f"&LAYER={name}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
            f"&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key.strip()}"
        )

    return Basemap(wmts(layer), "© 天地图 Tianditu", "天地图", 18, "01234567", wmts(labels))


# --- page assets ---------------------------------------------------------------------------


def _check_assets_mode(assets: str) -> str:
    if not isinstance(assets, str) or not assets.strip():
        raise MapError(f'assets must be "inline" or a URL prefix such as "/static/vendor", got {assets!r}')
    return assets.strip()


def _install_assets(m: folium.Map, assets: str, *, heat: bool = False) -> None:
    """Replace folium's CDN links on ``m`` by the vendored Leaflet files."""
    mode = _check_assets_mode(assets)
    names = ["leaflet.css", "leaflet.js"] + (["leaflet-heat.js"] if heat else [])
    _assets.check_assets(names)
    # Instance attributes shadow folium's class-level CDN lists (jquery, bootstrap, ...).
    m.default_js = []
    m.default_css = []
    header = m.get_root().header  # type: ignore[attr-defined]  # the root is a branca Figure
    for name in names:
        tag = _assets.inline_tag(name) if mode == INLINE else _assets.link_tag(name, mode)
        header.add_child(Element(tag), name=f"geogrid-{name}")


def _basemap(tiles: Basemap | tuple | str | None) -> Basemap | None:
    if tiles is None:
        return None
    if isinstance(tiles, str):
        raise MapError(
            "tiles needs an attribution: pass tiles=(url_template, attribution) or a Basemap, "
            f"e.g. ({tiles!r}, '© provider')"
        )
    b = tiles if isinstance(tiles, Basemap) else Basemap(*tiles)
    if not all(k in b.url for k in ("{z}", "{x}", "{y}")):
        raise MapError(f"tile URL template must contain {{z}}, {{x}} and {{y}}, got {b.url!r}")
    if not str(b.attribution).strip():
        raise MapError("tiles need a non-empty attribution (shown on the map as the tile licence requires)")
    return b


def _new_map(bounds: Sequence[float], *, tiles: Any, assets: str, heat: bool = False) -> folium.Map:
    west, south, east, north = (float(v) for v in bounds)
    if not np.isfinite([west, south, east, north]).all():
        raise MapError("nothing to draw: the frame has no finite bounds (empty or all-empty geometries)")
    basemap = _basemap(tiles)
    m = folium.Map(
        location=[(south + north) / 2, (west + east) / 2],
        zoom_start=13,
        tiles=None,
        control_scale=True,
    )
    _install_assets(m, assets, heat=heat)
    if basemap is not None:
        extra: dict[str, Any] = {"subdomains": basemap.subdomains} if basemap.subdomains else {}
        folium.TileLayer(
            tiles=basemap.url,
            attr=basemap.attribution,
            name=basemap.name,
            max_zoom=basemap.max_zoom,
            overlay=False,
            control=True,
            **extra,
        ).add_to(m)
        if basemap.labels_url:
            folium.TileLayer(
                tiles=basemap.labels_url,
                attr=basemap.attribution,
                name="地名 Place names",
                max_zoom=basemap.max_zoom,
                overlay=True,
                control=True,
                **extra,
            ).add_to(m)
    PlainAttribution().add_to(m)
    m.fit_bounds([[south, west], [north, east]])
    return m


class PlainAttribution(MacroElement):
    """Leaflet's attribution prefix without its flag icon: just the word, as text."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            {{ this._parent.get_name() }}.attributionControl.setPrefix("Leaflet");
        {% endmacro %}
        """
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "PlainAttribution"


class MapTitle(MacroElement):
    """A title band at the top left of the map, beside the zoom buttons and clear of the layer
    control (name of the area, plan, date), in plain HTML/CSS; also the page's ``<title>``."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
        .geogrid-title { position: absolute; top: 10px; left: 56px; z-index: 1000;
            pointer-events: none; max-width: 45%;
            background: rgba(255,255,255,0.92); padding: 6px 16px; border-radius: 4px;
            box-shadow: 0 1px 4px rgba(0,0,0,0.3); font-family: sans-serif; color: #1d3557; }
        .geogrid-title h1 { margin: 0; font-size: 20px; line-height: 1.3; }
        .geogrid-title p { margin: 2px 0 0; font-size: 13px; color: #444; }
        </style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
            (function () {
                var div = L.DomUtil.create("div", "geogrid-title");
                div.innerHTML = {{ this.html|tojson }};
                {{ this._parent.get_name() }}.getContainer().appendChild(div);
            })();
        {% endmacro %}
        """
    )

    def __init__(self, title: str, subtitle: str | None = None) -> None:
        super().__init__()
        self._name = "MapTitle"
        self.title = title
        self.subtitle = subtitle
        self.html = f"<h1>{html_lib.escape(title)}</h1>" + (
            f"<p>{html_lib.escape(subtitle)}</p>" if subtitle else ""
        )


def add_title(m: folium.Map, title: str | None, subtitle: str | None = None) -> folium.Map:
    """Put a title band (and the page title) on ``m``; nothing when ``title`` is None.

    Examples
    --------
    >>> m = add_title(folium.Map(tiles=None), "姑苏区网格", "方案第 3 版 · 数据截至 2024-05-01")
    >>> "姑苏区网格" in map_html(m)
    True
    """
    if title:
        MapTitle(title, subtitle).add_to(m)
        m.get_root().title = title  # type: ignore[attr-defined]  # the root is a branca Figure
    return m


# --- legend --------------------------------------------------------------------------------


class Legend(MacroElement):
    """A legend drawn as a Leaflet control in plain HTML/CSS (no d3, no CDN).

    ``sections`` is a list of ``(title, [(color, label), ...])``.
    """

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
        .geogrid-legend { background: rgba(255,255,255,0.92); padding: 6px 8px; border-radius: 4px;
            box-shadow: 0 1px 4px rgba(0,0,0,0.3); font: 12px/1.4 sans-serif; color: #222;
            max-height: 60vh; overflow-y: auto; }
        .geogrid-legend h4 { margin: 4px 0 2px; font-size: 12px; }
        .geogrid-legend i { display: inline-block; width: 14px; height: 14px; margin-right: 6px;
            vertical-align: -2px; border: 1px solid rgba(0,0,0,0.25); }
        </style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.control({position: {{ this.position|tojson }}});
            {{ this.get_name() }}.onAdd = function () {
                var div = L.DomUtil.create("div", "geogrid-legend");
                div.innerHTML = {{ this.html|tojson }};
                L.DomEvent.disableClickPropagation(div);
                return div;
            };
            {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]], *, position: str = "bottomright"):
        super().__init__()
        self._name = "Legend"
        self.sections = sections
        self.position = position
        parts = []
        for title, items in sections:
            parts.append(f"<h4>{html_lib.escape(title)}</h4>")
            for color, label in items:
                parts.append(
                    f'<div><i style="background:{html_lib.escape(color)}"></i>{html_lib.escape(label)}</div>'
                )
        self.html = "".join(parts)


# --- frames and colours --------------------------------------------------------------------


def _as_wgs84(gdf: Any, what: str) -> Any:
    import geopandas as gpd

    if not isinstance(gdf, gpd.GeoDataFrame):
        raise MapError(f"{what} must be a GeoDataFrame, got {type(gdf).__name__}")
    if gdf.crs is not None and not gdf.crs.equals(WGS84):
        gdf = gdf.to_crs(WGS84)
    return gdf


def _head_column(gdf: Any) -> str | None:
    return next((c for c in HEAD_COLUMNS if c in gdf.columns), None)


def _py(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and not np.isfinite(v):
        return None
    if isinstance(v, int | float | str | bool):
        return v
    return str(v)


def _features(gdf: Any, props: Mapping[str, Sequence[Any]]) -> dict:
    """A FeatureCollection of ``gdf``'s geometries with the given property columns (JSON-safe)."""
    geoms = json.loads(gdf.geometry.to_json(drop_id=True))["features"]
    keys = list(props)
    features = []
    for i, f in enumerate(geoms):
        features.append(
            {"type": "Feature", "geometry": f["geometry"], "properties": {k: _py(props[k][i]) for k in keys}}
        )
    return {"type": "FeatureCollection", "features": features}


def rule_status(households: Any, rule: Rule | str | tuple[int, int]) -> np.ndarray:
    """``"below"`` / ``"within"`` / ``"above"`` / ``"unknown"`` of household counts against a rule.

    Examples
    --------
    >>> rule_status([40, 50, 100, 101, None], "rural").tolist()
    ['below', 'within', 'within', 'above', 'unknown']
    """
    r = resolve_rule(rule)
    h = pd.to_numeric(pd.Series(list(households), dtype=object), errors="coerce").to_numpy(dtype=float)
    out = np.full(h.shape, "unknown", dtype=object)
    out[h < r.lo] = "below"
    out[(h >= r.lo) & (h <= r.hi)] = "within"
    out[h > r.hi] = "above"
    return out


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:,.2f}"


def classify(values: Any, *, palette: Sequence[str] = SEQUENTIAL) -> tuple[list[str], list[tuple[str, str]]]:
    """Colours for numeric values by quantile classes, and the legend items for them.

    Parameters
    ----------
    values : array-like
        Numbers; missing values get :data:`NO_DATA_COLOR`.
    palette : sequence of colours, light to dark
        One class per colour (fewer when values have fewer distinct quantiles).

    Returns
    -------
    (colors, legend)
        One colour per value, and ``[(color, "lo – hi"), ...]`` from low to high.

    Examples
    --------
    >>> colors, legend = classify([1, 2, 3, 4, 100])
    >>> colors[0] == SEQUENTIAL[0], colors[-1] == SEQUENTIAL[-1]
    (True, True)
    """
    v = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(v)
    colors = np.full(v.shape, NO_DATA_COLOR, dtype=object)
    legend: list[tuple[str, str]] = []
    if ok.any():
        edges = np.unique(np.quantile(v[ok], np.linspace(0, 1, len(palette) + 1)))
        if edges.size == 1:
            colors[ok] = palette[-1]
            legend.append((palette[-1], _fmt(edges[0])))
        else:
            k = edges.size - 1
            # Spread the classes over the whole palette so the top class is always the darkest.
            chosen = [palette[round(i * (len(palette) - 1) / max(k - 1, 1))] for i in range(k)]
            idx = np.clip(np.searchsorted(edges, v[ok], side="right") - 1, 0, k - 1)
            colors[ok] = np.asarray(chosen, dtype=object)[idx]
            legend = [(chosen[i], f"{_fmt(edges[i])} – {_fmt(edges[i + 1])}") for i in range(k)]
    if (~ok).any():
        legend.append((NO_DATA_COLOR, "无数据 no data"))
    return colors.tolist(), legend


def _fields(props: dict[str, Any], extra_labels: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    labels = {**LABELS, **(extra_labels or {})}
    fields = [k for k in props if not k.startswith("_")]
    return fields, [labels.get(k, k) for k in fields]


def _geojson_layer(
    fc: dict,
    *,
    name: str,
    style: dict[str, Any],
    fill_key: str | None,
    popup_labels: dict[str, str] | None = None,
    interactive: bool = True,
    show: bool = True,
) -> folium.GeoJson:
    base = dict(style)

    def style_function(feature: dict) -> dict:
        s = dict(base)
        if fill_key:
            s["fillColor"] = feature["properties"][fill_key]
        return s

    kwargs: dict[str, Any] = {}
    if interactive and fc["features"]:
        fields, aliases = _fields(fc["features"][0]["properties"], popup_labels)
        kwargs["tooltip"] = folium.GeoJsonTooltip(fields=fields[:2], aliases=aliases[:2], sticky=True)
        kwargs["popup"] = folium.GeoJsonPopup(fields=fields, aliases=aliases)
        kwargs["highlight_function"] = lambda _f: {"weight": 3, "color": "#000000"}
    return folium.GeoJson(
        fc,
        name=name,
        style_function=style_function,
        interactive=interactive,
        show=show,
        **kwargs,
    )


def _grid_props(gdf: Any) -> dict[str, list[Any]]:
    props: dict[str, list[Any]] = {}
    n = len(gdf)
    props["code"] = gdf["code"].tolist() if "code" in gdf.columns else [None] * n
    if "name" in gdf.columns:
        props["name"] = gdf["name"].tolist()
    head = _head_column(gdf)
    if head:
        props["head"] = gdf[head].tolist()
    if "households" in gdf.columns:
        props["households"] = gdf["households"].tolist()
    return props


# --- builders ------------------------------------------------------------------------------


def household_classes(households: Any, rule: Rule | str | tuple[int, int]) -> np.ndarray:
    """Households against a rule's bounds in five classes for a diverging palette.

    ``below`` / ``above`` the bounds, and within them ``low`` / ``mid`` / ``high`` by thirds
    of the range (``unknown`` without a count).  :data:`HOUSEHOLD_COLORS` colours them.

    Examples
    --------
    >>> household_classes([40, 50, 70, 90, 100, 101, None], "rural").tolist()
    ['below', 'low', 'mid', 'high', 'high', 'above', 'unknown']
    """
    r = resolve_rule(rule)
    h = pd.to_numeric(pd.Series(list(households), dtype=object), errors="coerce").to_numpy(dtype=float)
    third = (r.hi - r.lo) / 3
    out = np.full(h.shape, "unknown", dtype=object)
    out[h < r.lo] = "below"
    out[(h >= r.lo) & (h < r.lo + third)] = "low"
    out[(h >= r.lo + third) & (h < r.lo + 2 * third)] = "mid"
    out[(h >= r.lo + 2 * third) & (h <= r.hi)] = "high"
    out[h > r.hi] = "above"
    return out


def _class_legend(classes: np.ndarray, rule: Any | None) -> list[tuple[str, str]]:
    """Legend rows of the household classes, with the numbers of households (one rule) and
    the number of grids in each."""
    counts = pd.Series(classes).value_counts()
    text = dict(HOUSEHOLD_LABELS)
    if rule is not None:
        lo, hi = rule.lo, rule.hi
        a, b = round(lo + (hi - lo) / 3), round(lo + 2 * (hi - lo) / 3)
        text |= {
            "below": f"少于 {lo} 户（低于下限）",
            "low": f"{lo}–{a} 户（偏少）",
            "mid": f"{a}–{b} 户（适中）",
            "high": f"{b}–{hi} 户（偏多）",
            "above": f"多于 {hi} 户（超过上限）",
        }
    keys = ["below", "low", "mid", "high", "above"] + (["unknown"] if counts.get("unknown", 0) else [])
    return [(HOUSEHOLD_COLORS[k], f"{text[k]} · {counts.get(k, 0)} 个网格") for k in keys]


def _classes_by_kind(gdf: Any, values: list) -> tuple[np.ndarray, dict[str, Rule]]:
    if "kind" not in gdf.columns:
        raise MapError("rule='kind' needs a 'kind' column (urban, rural or dedicated) on the grids")
    classes = np.full(len(gdf), "unknown", dtype=object)
    rules: dict[str, Rule] = {}
    for kind in ("urban", "rural"):
        rows = (gdf["kind"] == kind).to_numpy()
        if rows.any():
            rules[kind] = resolve_rule(kind)
            classes[rows] = household_classes(np.asarray(values, dtype=object)[rows], rules[kind])
    return classes, rules


def _household_layer(gdf: Any, values: list, rule: Any, props: dict) -> tuple[str, list]:
    """Colour ``props`` by households against ``rule`` (or each grid's kind); legend section."""
    if rule == "kind":
        classes, rules = _classes_by_kind(gdf, values)
        bounds = "，".join(f"{KIND_NAMES[k]} {r.lo}–{r.hi} 户" for k, r in rules.items())
        title = f"网格户数与标准（{bounds}）"
        legend = _class_legend(classes, None)
    else:
        r = resolve_rule(rule)
        classes = household_classes(values, r)
        title = f"网格户数与标准（{r.lo}–{r.hi} 户）"
        legend = _class_legend(classes, r)
    props["status"] = [HOUSEHOLD_LABELS[c] for c in classes]
    props["_class"] = classes.tolist()
    props["_fill"] = [HOUSEHOLD_COLORS[c] for c in classes]
    return title, legend


def grid_map(
    grids: Any,
    *,
    rule: Rule | str | tuple[int, int] | None = None,
    color_by: str = "households",
    tiles: Basemap | tuple | None = None,
    assets: str = INLINE,
    name: str = "网格 Grids",
    title: str | None = None,
    subtitle: str | None = None,
) -> folium.Map:
    """Map of grids coloured by households against a rule's bounds (or by any numeric column).

    Parameters
    ----------
    grids : GeoDataFrame
        Grid frame (see :mod:`geogrid.frames`): ``code``, ``name``, ``households``, geometry;
        a ``head`` (or ``head_name``) column is shown when present.
    rule : Rule, "rural", "urban", (lo, hi), "kind", optional
        With ``color_by="households"``: a diverging palette around the bounds
        (:func:`household_classes`, :data:`HOUSEHOLD_COLORS`): blue below, red above, light
        shades by thirds within.  ``"kind"`` judges each grid by the rule of its own ``kind``
        column (urban 300–500, rural 50–100; dedicated grids have no household rule), which
        is what a county with both kinds needs.  Without a rule, values are coloured by
        quantile classes.
    color_by : str, default "households"
        Numeric column to colour by (e.g. a KPI column).
    tiles : Basemap or (url_template, attribution), optional
        Basemap; default none (works offline).  See :func:`tianditu_basemap`.
    assets : "inline" or URL prefix
        Embed Leaflet in the page, or link it under a prefix such as ``"/static/vendor"``.
    name : str
        Layer name in the layer control.
    title, subtitle : str, optional
        A title band over the map (e.g. the division's name; the plan and the data date).

    Returns
    -------
    folium.Map

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> grids = gpd.GeoDataFrame(
    ...     {"code": ["320508019044001", "320508019044002"], "name": ["一", "二"], "households": [40, 80]},
    ...     geometry=[box(120.60, 31.30, 120.61, 31.31), box(120.61, 31.30, 120.62, 31.31)], crs=4326)
    >>> m = grid_map(grids, rule="rural", title="东港社区网格")
    >>> external_urls(map_html(m))
    []
    """
    gdf = _as_wgs84(grids, "grids")
    if color_by not in gdf.columns:
        raise MapError(f"grids has no column {color_by!r} to colour by (columns: {list(gdf.columns)})")
    m = _new_map(gdf.total_bounds, tiles=tiles, assets=assets)
    props = _grid_props(gdf)
    values = gdf[color_by].tolist()
    if color_by not in props:
        props[color_by] = values
    if rule is not None and color_by == "households":
        legend_title, legend_items = _household_layer(gdf, values, rule, props)
    else:
        props["_fill"], legend_items = classify(values)
        legend_title = LABELS.get(color_by, color_by)
    fc = _features(gdf, props)
    style = {"color": "#333333", "weight": 1.5, "fillOpacity": 0.7}
    _geojson_layer(fc, name=name, style=style, fill_key="_fill").add_to(m)
    Legend([(legend_title, legend_items)]).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return add_title(m, title, subtitle)


def _heat_layer(m: folium.Map, heat: pd.DataFrame, *, name: str | None) -> tuple[str, list] | None:
    """Add incident heat (H3 cells+counts → hexagons, or points → leaflet.heat); legend section."""
    from geogrid.heat import cell_resolutions, cells_to_geojson

    if "cell" in heat.columns:
        count_col = "count" if "count" in heat.columns else None
        if count_col is None:
            raise MapError(
                "heat frame with a 'cell' column needs a 'count' column (see geogrid.heat.aggregate)"
            )
        df = heat[["cell", count_col]].reset_index(drop=True)
        fc = cells_to_geojson(df)
        colors, legend = classify(df[count_col].tolist(), palette=HEAT_PALETTE)
        for f, c in zip(fc["features"], colors, strict=True):
            f["properties"]["_fill"] = c
        res = sorted(set(cell_resolutions(df["cell"].to_numpy()).tolist())) if len(df) else []
        layer_name = name or "事件热力 Incident heat"
        style = {"stroke": False, "fillOpacity": 0.6}
        # Not interactive: clicks reach the grid layer below, whose popup carries the KPIs.
        _geojson_layer(fc, name=layer_name, style=style, fill_key="_fill", interactive=False).add_to(m)
        return _heat_title(res), [(c, f"{label} 件") for c, label in legend]
    lon_col = next((c for c in ("lon", "lng", "longitude") if c in heat.columns), None)
    lat_col = next((c for c in ("lat", "latitude") if c in heat.columns), None)
    if lon_col is None or lat_col is None:
        if hasattr(heat, "geometry") and len(heat):
            pts = _as_wgs84(heat, "heat")
            lon, lat = pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy()
        else:
            raise MapError(
                "heat must have columns cell+count (H3 aggregate) or lon+lat (points), "
                f"got {list(heat.columns)}"
            )
    else:
        lon, lat = heat[lon_col].to_numpy(dtype=float), heat[lat_col].to_numpy(dtype=float)
    data = np.column_stack([lat, lon])
    if "weight" in heat.columns:
        data = np.column_stack([data, heat["weight"].to_numpy(dtype=float)])
    from folium.plugins import HeatMap

    title = name or "事件热力 Incident heat"
    layer = HeatMap(
        data.tolist(),
        name=title,
        radius=18,
        blur=14,
        min_opacity=0.3,
        gradient={str(k): c for k, c in HEAT_GRADIENT.items()},
    )
    layer.default_js = []  # the script comes from the vendored leaflet.heat (see _install_assets)
    layer.add_to(m)
    colors = list(HEAT_GRADIENT.values())
    labels = ["少"] + [""] * (len(colors) - 2) + ["多"]
    return "事件热力（事件密集处颜色深）", list(zip(colors, labels, strict=True))


def _heat_title(resolutions: list[int]) -> str:
    """A legend title that says how big a hexagon is, in metres, instead of naming H3."""
    from h3 import average_hexagon_edge_length

    if len(resolutions) != 1:
        return "事件热力：每个六边形内的事件数"
    edge = average_hexagon_edge_length(resolutions[0], unit="m")
    size = f"{edge / 1000:.1f} 公里" if edge >= 1000 else f"{round(edge, -1 if edge >= 100 else 0):.0f} 米"
    return f"事件热力：每个六边形（边长约 {size}）内的事件数"


def dashboard_map(
    grids: Any,
    *,
    heat: pd.DataFrame | None = None,
    kpi: pd.Series | None = None,
    kpi_label: str = "KPI",
    heat_name: str | None = None,
    tiles: Basemap | tuple | None = None,
    assets: str = INLINE,
    title: str | None = None,
    subtitle: str | None = None,
) -> folium.Map:
    """Dashboard map: grid boundaries, incident heat and a KPI choropleth, with layer control.

    Parameters
    ----------
    grids : GeoDataFrame
        Grids (``code``, ``name``, ``households``, optional ``head``, geometry).
    heat : DataFrame, optional
        Either H3 cells with counts (columns ``cell``, ``count``, as from
        :func:`geogrid.heat.aggregate`) drawn as hexagons, or incident points (``lon``, ``lat``,
        optional ``weight``; or a point GeoDataFrame) drawn with leaflet.heat.
    kpi : Series, optional
        Values per grid code (index = code), e.g. incidents per 100 households.  Grids are
        coloured by quantile class and the value is shown in their popups.
    kpi_label : str
        Name of the KPI in the legend, popups and layer control.
    heat_name : str, optional
        Layer name of the heat layer.
    tiles, assets, title, subtitle
        As in :func:`grid_map`.  Heat is drawn in :data:`HEAT_PALETTE`, the KPI in
        :data:`KPI_PALETTE`: two palettes, so neither reads as the other.

    Examples
    --------
    >>> import geopandas as gpd, pandas as pd
    >>> from shapely.geometry import box
    >>> grids = gpd.GeoDataFrame({"code": ["a", "b"], "households": [300, 450]},
    ...     geometry=[box(120.60, 31.30, 120.61, 31.31), box(120.61, 31.30, 120.62, 31.31)], crs=4326)
    >>> m = dashboard_map(grids, kpi=pd.Series({"a": 1.5, "b": 4.0}), kpi_label="per 100 hh")
    >>> "per 100 hh" in map_html(m)
    True
    """
    gdf = _as_wgs84(grids, "grids")
    points_heat = heat is not None and "cell" not in heat.columns
    m = _new_map(gdf.total_bounds, tiles=tiles, assets=assets, heat=points_heat)
    props = _grid_props(gdf)
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    if kpi is not None:
        if not isinstance(kpi, pd.Series):
            raise MapError(f"kpi must be a pandas Series indexed by grid code, got {type(kpi).__name__}")
        if "code" not in gdf.columns:
            raise MapError("grids need a 'code' column to join a KPI by grid code")
        kpi_by_code = {str(k): v for k, v in kpi.items()}
        values = [kpi_by_code.get(str(c)) for c in gdf["code"]]
        if all(v is None for v in values) and len(kpi):
            raise MapError(
                f"no grid code matches the KPI index (e.g. KPI {next(iter(kpi_by_code))!r} vs "
                f"grid {str(gdf['code'].iloc[0])!r})"
            )
        props[kpi_label] = values
        colors, legend = classify(values, palette=KPI_PALETTE)
        kpi_fc = _features(gdf, {"code": props["code"], kpi_label: values, "_fill": colors})
        kpi_style = {"color": "#555555", "weight": 0.5, "fillOpacity": 0.6}
        _geojson_layer(
            kpi_fc, name=f"指标：{kpi_label}", style=kpi_style, fill_key="_fill", interactive=False
        ).add_to(m)
        sections.append((f"指标：{kpi_label}", legend))
    if heat is not None:
        added = _heat_layer(m, heat, name=heat_name)
        if added:
            sections.append(added)
    # Boundaries on top: transparent fill so a click anywhere inside a grid opens its popup.
    fc = _features(gdf, props)
    style = {"color": "#222222", "weight": 1.5, "fillColor": "#ffffff", "fillOpacity": 0.0}
    _geojson_layer(fc, name="网格边界 Grid boundaries", style=style, fill_key=None).add_to(m)
    sections.append(("网格", [("#ffffff", f"网格边界 · 共 {len(gdf)} 个网格")]))
    Legend(sections).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return add_title(m, title, subtitle)


def diff_by_code(old: Any, new: Any) -> Any:
    """Changes between two plans matched by grid code (used by :func:`diff_map` without a diff).

    A code only in ``new`` is ``added``, only in ``old`` ``removed``; a code in both is
    ``unchanged`` when its geometry is topologically equal and its households equal, else
    ``changed``.  Grids without a code count as added (new) / removed (old).

    Returns
    -------
    GeoDataFrame
        ``code``, ``change``, ``households_before``, ``households_after``, geometry (the new
        geometry; the old one for removed grids), EPSG:4326.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> old = gpd.GeoDataFrame({"code": ["a", "b"], "households": [60, 70]},
    ...     geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs=4326)
    >>> new = gpd.GeoDataFrame({"code": ["a", "c"], "households": [60, 70]},
    ...     geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs=4326)
    >>> diff_by_code(old, new)[["code", "change"]].values.tolist()
    [['a', 'unchanged'], ['c', 'added'], ['b', 'removed']]
    """
    import geopandas as gpd
    import shapely

    o = _as_wgs84(old, "old").reset_index(drop=True)
    n = _as_wgs84(new, "new").reset_index(drop=True)
    for frame, what in ((o, "old"), (n, "new")):
        if "code" not in frame.columns:
            raise MapError(f"{what} grids need a 'code' column to be compared by code")
    hh_o = o["households"] if "households" in o.columns else pd.Series([None] * len(o))
    hh_n = n["households"] if "households" in n.columns else pd.Series([None] * len(n))
    old_by_code = {str(c): i for i, c in enumerate(o["code"]) if c is not None and not pd.isna(c)}
    rows = []
    seen = set()
    for i, code in enumerate(n["code"]):
        key = None if code is None or pd.isna(code) else str(code)
        j = old_by_code.get(key) if key is not None else None
        if j is None:
            rows.append((key, "added", None, _py(hh_n.iloc[i]), n.geometry.iloc[i]))
            continue
        seen.add(key)
        same = bool(shapely.equals(o.geometry.iloc[j], n.geometry.iloc[i])) and _py(hh_o.iloc[j]) == _py(
            hh_n.iloc[i]
        )
        rows.append(
            (
                key,
                "unchanged" if same else "changed",
                _py(hh_o.iloc[j]),
                _py(hh_n.iloc[i]),
                n.geometry.iloc[i],
            )
        )
    for j, code in enumerate(o["code"]):
        key = None if code is None or pd.isna(code) else str(code)
        if key is None or key not in seen:
            rows.append((key, "removed", _py(hh_o.iloc[j]), None, o.geometry.iloc[j]))
    cols = ["code", "change", "households_before", "households_after"]
    df = pd.DataFrame([r[:4] for r in rows], columns=cols)
    return gpd.GeoDataFrame(df, geometry=[r[4] for r in rows], crs=WGS84)


def diff_map(
    old: Any,
    new: Any,
    diff: Any = None,
    *,
    tiles: Basemap | tuple | None = None,
    assets: str = INLINE,
) -> folium.Map:
    """Map of the changes between two plans: added / removed / changed / unchanged grids.

    Parameters
    ----------
    old, new : GeoDataFrame
        The previous and the new plan (grid frames).
    diff : GeoDataFrame, optional
        Precomputed changes (e.g. from ``geogrid.plans.diff_plans``) with columns ``code``,
        ``change`` ("added"|"removed"|"changed"|"unchanged"), ``households_before``,
        ``households_after`` and geometry.  Default: :func:`diff_by_code` of old and new.
    tiles, assets
        As in :func:`grid_map`.

    Returns
    -------
    folium.Map
        One layer per kind of change; popups show households before/after and moved.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> old = gpd.GeoDataFrame({"code": ["a"], "households": [60]}, geometry=[box(0, 0, 1, 1)], crs=4326)
    >>> new = gpd.GeoDataFrame({"code": ["a"], "households": [75]}, geometry=[box(0, 0, 1, 1)], crs=4326)
    >>> "changed" in map_html(diff_map(old, new))
    True
    """
    d = diff_by_code(old, new) if diff is None else _as_wgs84(diff, "diff")
    required = ["code", "change", "households_before", "households_after"]
    missing = [c for c in required if c not in d.columns]
    if missing:
        raise MapError(f"diff lacks columns {missing} (needs {required} and geometry)")
    unknown = sorted(set(d["change"].astype(str)) - set(CHANGE_COLORS))
    if unknown:
        raise MapError(f"diff has unknown change values {unknown}; use {list(CHANGE_COLORS)}")
    d = d.reset_index(drop=True)
    before = pd.to_numeric(d["households_before"], errors="coerce")
    after = pd.to_numeric(d["households_after"], errors="coerce")
    moved = (after.fillna(0) - before.fillna(0)).astype(float)
    m = _new_map(d.total_bounds, tiles=tiles, assets=assets)
    items = []
    for change in ("unchanged", "changed", "removed", "added"):
        sel = (d["change"].astype(str) == change).to_numpy()
        count = int(sel.sum())
        items.append((CHANGE_COLORS[change], f"{CHANGE_NAMES[change]} {change} ({count})"))
        if not count:
            continue
        part = d[sel]
        props = {
            "code": part["code"].tolist(),
            "change": part["change"].astype(str).tolist(),
            "households_before": part["households_before"].tolist(),
            "households_after": part["households_after"].tolist(),
            "households_moved": [f"{v:+,.0f}" for v in moved[sel]],
        }
        fc = _features(part, props)
        style = {
            "color": CHANGE_COLORS[change],
            "fillColor": CHANGE_COLORS[change],
            "weight": 1 if change == "unchanged" else 2.5,
            "fillOpacity": 0.1 if change == "unchanged" else 0.45,
        }
        if change == "removed":
            style["dashArray"] = "6 4"
        _geojson_layer(fc, name=f"{change} ({count})", style=style, fill_key=None).add_to(m)
    Legend([("方案变化 Plan changes", items)]).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


# --- output --------------------------------------------------------------------------------


def map_html(m: folium.Map) -> str:
    """The complete HTML page of a map.

    Examples
    --------
    >>> map_html(folium.Map(tiles=None)).startswith("<!DOCTYPE html>")
    True
    """
    return m.get_root().render()


def save_map(m: folium.Map, path: str | Path) -> Path:
    """Write a map's HTML page to ``path`` (UTF-8; parent folders are created).

    Examples
    --------
    >>> import tempfile, os
    >>> p = save_map(folium.Map(tiles=None), os.path.join(tempfile.mkdtemp(), "m", "map.html"))
    >>> p.exists()
    True
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(map_html(m), encoding="utf-8")
    return out


_URL_PATTERNS = (
    re.compile(
        r"<(?:script|img|iframe|source|embed|audio|video)\b[^>]*?\bsrc\s*=\s*([\"']?)([^\"'\s>]+)\1", re.I
    ),
    re.compile(r"<link\b[^>]*?\bhref\s*=\s*([\"']?)([^\"'\s>]+)\1", re.I),
    re.compile(r"url\(\s*([\"']?)([^\"')\s]+)\1\s*\)", re.I),
    re.compile(r"@import\s+([\"'])([^\"']+)\1", re.I),
)


def external_urls(page: str) -> list[str]:
    """Every http(s) or protocol-relative URL the page would load (script src, link href, url(), @import).

    Links a user may click (``<a href>``) and tile URL templates are not resources of the page.

    Examples
    --------
    >>> external_urls('<script src="https://cdn.example/x.js"></script><link href="/static/a.css">')
    ['https://cdn.example/x.js']
    """
    found = set()
    for pattern in _URL_PATTERNS:
        for match in pattern.finditer(page):
            url = match.group(2)
            if re.match(r"^(?:https?:)?//", url, re.I):
                found.add(url)
    return sorted(found)
