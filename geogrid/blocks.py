"""Street-bounded blocks: the atoms a partition is assembled from.

Street centre lines, barriers (rivers, railways) and the area boundary are noded
together (every crossing becomes a shared vertex) and polygonized.  Each face inside
the area is a block.  Because every face is built from the same noded line pieces,
neighbouring blocks share their boundary vertex for vertex: dissolving blocks later
gives grids that tile the area with no gap and no overlap, without any snapping.

Noding is snap-rounded to a :data:`NODING_GRID_M` (1 µm) grid: two lines closer than that
become one, so no face is thinner than the grid and no two vertices are closer than it.
Round-off of later steps (a re-projection to EPSG:4326 moves a vertex by ~1e-9 m) can then
never fold a block or grid onto itself.  The area boundary is not left on that grid: its
vertices are put back exactly, and every crossing on it is put back onto the boundary
segment it lies on (:func:`_restore_boundary`), so blocks cover the area as given.

Tolerances (metric CRS, metres):

- a face smaller than ``min_area_m2`` (default 1 m²) or thinner than ``min_width_m``
  (default 0.5 m, measured as ``2 * area / perimeter``) is a sliver and is merged into
  the neighbour it shares the longest boundary with;
- a noded line piece is matched to the source line (street, barrier, boundary) it came
  from within :data:`MATCH_TOLERANCE_M`, and to the blocks on either side of it within
  the same distance (:data:`SOURCE_MATCH_M` for the source line, which the rounding may
  have moved by up to 0.71 grid steps).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy import sparse

from geogrid.crs import planar_crs_for
from geogrid.errors import InvalidGeometryError
from geogrid.frames import STREET_CLASS_WIDTH_M, WGS84

BOUNDARY = "boundary"
BARRIER = "barrier"
INTERNAL = "internal"
DEFAULT_STREET_CLASS = "street"
MATCH_TOLERANCE_M = 1e-6
NODING_GRID_M = 1e-6
SOURCE_MATCH_M = 2 * NODING_GRID_M

# Width of each kind of edge when it is used as a grid boundary.  Barriers are the best
# possible boundary (nobody patrols across a river); an internal cut through a block
# (between two address cells) is the worst, so it gets a width below any lane.
EDGE_WIDTH_M = {**STREET_CLASS_WIDTH_M, BARRIER: 60.0, INTERNAL: 1.0, BOUNDARY: 0.0}
# Reference width that makes the cut cost of an ordinary street edge equal its length.
REFERENCE_WIDTH_M = STREET_CLASS_WIDTH_M["street"]


@dataclass
class BlockGraph:
    """Blocks in a metric CRS and the street edges they share.

    ``a[i] < b[i]`` are the two blocks of shared edge ``i``; ``length`` its length in
    metres, ``street_class`` the class covering most of it, ``width`` the length-weighted
    width and ``cost`` the cut cost ``sum(piece length * REFERENCE_WIDTH_M / width)``
    (cutting along a wide street is cheap, along a lane or through a block expensive).
    """

    geoms: np.ndarray
    crs: CRS
    a: np.ndarray
    b: np.ndarray
    length: np.ndarray
    width: np.ndarray
    cost: np.ndarray
    street_class: np.ndarray
    merged_slivers: int = 0
    origin: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def n(self) -> int:
        return len(self.geoms)

    def adjacency(self, data: np.ndarray | None = None) -> sparse.csr_matrix:
        """Symmetric CSR matrix of the block graph (``data`` per edge, default 1)."""
        vals = np.ones(len(self.a)) if data is None else np.asarray(data, dtype=float)
        m = sparse.coo_matrix(
            (
                np.concatenate([vals, vals]),
                (np.concatenate([self.a, self.b]), np.concatenate([self.b, self.a])),
            ),
            shape=(self.n, self.n),
        )
        return m.tocsr()

    def edges_frame(self) -> pd.DataFrame:
        """One row per shared edge: ``a``, ``b``, ``length_m``, ``street_class``, ``width_m``, ``cost``."""
        return pd.DataFrame(
            {
                "a": self.a,
                "b": self.b,
                "length_m": self.length,
                "street_class": self.street_class,
                "width_m": self.width,
                "cost": self.cost,
            }
        )

    def to_frame(self) -> gpd.GeoDataFrame:
        """Blocks as a GeoDataFrame with each block's neighbours and the class of each shared edge."""
        n = self.n
        both_a = np.concatenate([self.a, self.b])
        both_b = np.concatenate([self.b, self.a])
        cls = np.concatenate([self.street_class, self.street_class])
        lengths = np.concatenate([self.length, self.length])
        order = np.lexsort((both_b, both_a))
        both_a, both_b, cls, lengths = both_a[order], both_b[order], cls[order], lengths[order]
        cuts = np.searchsorted(both_a, np.arange(n + 1))
        nbrs = [both_b[cuts[i] : cuts[i + 1]].tolist() for i in range(n)]
        classes = [cls[cuts[i] : cuts[i + 1]].tolist() for i in range(n)]
        lens = [np.round(lengths[cuts[i] : cuts[i + 1]], 3).tolist() for i in range(n)]
        return gpd.GeoDataFrame(
            {
                "block_id": np.arange(n),
                "area_m2": shapely.area(self.geoms),
                "neighbors": nbrs,
                "edge_classes": classes,
                "edge_lengths_m": lens,
            },
            geometry=gpd.GeoSeries(self.geoms, crs=self.crs),
        )


def graph_from_frame(blocks: gpd.GeoDataFrame) -> BlockGraph:
    """Rebuild a :class:`BlockGraph` from the frame :func:`make_blocks` returned.

    Used when a caller edits the blocks frame (e.g. sets ``households``) and hands it
    back to :func:`geogrid.partition.partition_blocks`.
    """
    required = {"neighbors", "edge_classes", "edge_lengths_m"}
    if not required <= set(blocks.columns):
        raise InvalidGeometryError(f"blocks frame lacks the columns {sorted(required - set(blocks.columns))}")
    counts = blocks["neighbors"].map(len).to_numpy()
    src = np.repeat(np.arange(len(blocks)), counts)
    dst = np.fromiter(
        (j for lst in blocks["neighbors"] for j in lst), dtype=np.int64, count=int(counts.sum())
    )
    cls = np.array([c for lst in blocks["edge_classes"] for c in lst], dtype=object)
    lens = np.fromiter((x for lst in blocks["edge_lengths_m"] for x in lst), dtype=float, count=len(dst))
    keep = src < dst
    widths = np.array(
        [EDGE_WIDTH_M.get(c, EDGE_WIDTH_M[DEFAULT_STREET_CLASS]) for c in cls[keep]], dtype=float
    )
    return BlockGraph(
        geoms=np.asarray(blocks.geometry.values, dtype=object),
        crs=blocks.crs,
        a=src[keep],
        b=dst[keep],
        length=lens[keep],
        width=widths,
        cost=lens[keep] * REFERENCE_WIDTH_M / np.maximum(widths, 1e-9),
        street_class=cls[keep],
        origin=np.arange(len(blocks)),
    )


def _as_geometry(area) -> tuple[shapely.Geometry, CRS]:
    """Area as one shapely geometry plus its CRS (shapely input is taken as EPSG:4326)."""
    if isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries):
        if len(area) == 0:
            raise InvalidGeometryError("area frame is empty")
        crs = area.crs or CRS.from_user_input(WGS84)
        geoms = np.asarray(area.geometry.values if isinstance(area, gpd.GeoDataFrame) else area.values)
        geom = geoms[0] if len(geoms) == 1 else shapely.union_all(geoms)
        return geom, CRS.from_user_input(crs)
    if isinstance(area, shapely.Geometry):
        return area, CRS.from_user_input(WGS84)
    raise InvalidGeometryError(
        f"area must be a shapely geometry or a GeoDataFrame, got {type(area).__name__}"
    )


def check_area(geom: shapely.Geometry) -> None:
    """Raise :class:`InvalidGeometryError` unless ``geom`` is a non-empty valid (Multi)Polygon."""
    if geom is None or geom.is_empty:
        raise InvalidGeometryError("area is empty")
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidGeometryError(f"area must be a Polygon or MultiPolygon, got {geom.geom_type}")
    if not geom.is_valid:
        raise InvalidGeometryError(f"area is invalid: {shapely.is_valid_reason(geom)}")


def working_crs(area, crs=None) -> tuple[shapely.Geometry, CRS]:
    """The area in the metric CRS partitioning works in, and that CRS.

    ``crs`` wins when given; an area already in a projected CRS stays in it; otherwise a
    local CRS affine in lon/lat centred on the area (:func:`geogrid.crs.planar_crs_for`),
    so that the straight lon/lat edges of the area and its streets stay straight.
    """
    geom, src = _as_geometry(area)
    check_area(geom)
    if crs is not None:
        target = CRS.from_user_input(crs)
    elif src.is_projected:
        target = src
    else:
        target = planar_crs_for(gpd.GeoSeries([geom], crs=src).to_crs(WGS84))
    if target == src:
        return geom, target
    return gpd.GeoSeries([geom], crs=src).to_crs(target).iloc[0], target


def to_crs_array(frame, crs: CRS) -> np.ndarray:
    """Geometries of ``frame`` re-projected to ``crs`` (frames without a CRS are taken as EPSG:4326)."""
    gs = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else frame
    if gs.crs is None:
        gs = gs.set_crs(WGS84)
    if gs.crs != crs:
        gs = gs.to_crs(crs)
    return np.asarray(gs.values, dtype=object)


def street_lines(streets, crs: CRS) -> tuple[np.ndarray, np.ndarray]:
    """Street geometries in ``crs`` and their classes (missing or unknown class → ``"street"``)."""
    if streets is None or len(streets) == 0:
        return np.empty(0, dtype=object), np.empty(0, dtype=object)
    geoms = to_crs_array(streets, crs)
    if isinstance(streets, gpd.GeoDataFrame) and "street_class" in streets.columns:
        cls = streets["street_class"].astype(object).to_numpy()
        cls = np.array([c if c in STREET_CLASS_WIDTH_M else DEFAULT_STREET_CLASS for c in cls], dtype=object)
    else:
        cls = np.full(len(geoms), DEFAULT_STREET_CLASS, dtype=object)
    keep = ~(shapely.is_empty(geoms) | shapely.is_missing(geoms))
    return geoms[keep], cls[keep]


def build_block_graph(
    area_m: shapely.Geometry,
    crs: CRS,
    lines: np.ndarray,
    classes: np.ndarray,
    *,
    barriers: np.ndarray | None = None,
    internal: np.ndarray | None = None,
    min_area_m2: float = 1.0,
    min_width_m: float = 0.5,
) -> BlockGraph:
    """Node and polygonize metric linework into blocks inside ``area_m`` (see module docstring).

    ``lines``/``classes`` are streets; ``barriers`` get class ``"barrier"``; ``internal``
    lines (cuts through over-full blocks) get class ``"internal"``.
    """
    boundary = shapely.get_parts(shapely.boundary(area_m))
    groups = [(boundary, np.full(len(boundary), BOUNDARY, dtype=object))]
    # Only lines that reach the area matter; a whole line is kept (not clipped) so that
    # its crossings with the boundary are computed once, by the noding below.
    shapely.prepare(area_m)
    for geoms, cls in (
        (lines, classes),
        (barriers, BARRIER),
        (internal, INTERNAL),
    ):
        if geoms is None or len(geoms) == 0:
            continue
        parts, idx = shapely.get_parts(np.asarray(geoms, dtype=object), return_index=True)
        is_line = shapely.get_type_id(parts) == 1  # LineStrings only
        part_cls = (
            np.full(len(parts), cls, dtype=object)
            if isinstance(cls, str)
            else np.asarray(cls, dtype=object)[idx]
        )
        parts, part_cls = parts[is_line], part_cls[is_line]
        hit = shapely.intersects(area_m, parts)
        groups.append((parts[hit], part_cls[hit]))
    src = np.concatenate([g for g, _ in groups])
    src_cls = np.concatenate([c for _, c in groups])
    src_width = np.array([EDGE_WIDTH_M.get(c, EDGE_WIDTH_M[DEFAULT_STREET_CLASS]) for c in src_cls])

    # Snap-rounded noding: near-coincident lines (a street digitised a few µm beside
    # the boundary) collapse instead of leaving faces a nanometre wide.
    noded = shapely.union_all(src, grid_size=NODING_GRID_M)
    pieces = shapely.get_parts(noded)
    pieces = pieces[shapely.get_type_id(pieces) == 1]
    faces = shapely.get_parts(shapely.polygonize(pieces))
    faces = faces[_inside(faces, area_m, boundary)]
    if len(faces) == 0:
        raise InvalidGeometryError("polygonizing the area produced no block")
    pieces, faces = _restore_boundary(pieces, faces, boundary)

    # Which source line each noded piece came from (widest wins where they coincide).
    mids = shapely.line_interpolate_point(pieces, 0.5, normalized=True)
    lengths = shapely.length(pieces)
    src_tree = shapely.STRtree(src)
    pi, si = src_tree.query(mids, predicate="dwithin", distance=SOURCE_MATCH_M)
    piece_width = np.full(len(pieces), EDGE_WIDTH_M[INTERNAL])
    piece_src = np.full(len(pieces), -1)
    if len(pi):
        order = np.lexsort((src_width[si], pi))  # last per piece = widest
        last = np.r_[pi[order][1:] != pi[order][:-1], True]
        piece_width[pi[order][last]] = src_width[si[order][last]]
        piece_src[pi[order][last]] = si[order][last]
    piece_cls = np.where(piece_src >= 0, src_cls[np.maximum(piece_src, 0)], INTERNAL)

    faces, merged = _merge_sliver_faces(faces, min_area_m2=min_area_m2, min_width_m=min_width_m)
    a, b, elen, ewidth, ecost, ecls = _face_edges(faces, mids, lengths, piece_width, piece_cls)
    return BlockGraph(
        geoms=faces,
        crs=crs,
        a=a,
        b=b,
        length=elen,
        width=ewidth,
        cost=ecost,
        street_class=ecls,
        merged_slivers=merged,
        origin=np.arange(len(faces)),
    )


def _inside(faces: np.ndarray, area_m: shapely.Geometry, boundary: np.ndarray) -> np.ndarray:
    """Which polygonized faces lie inside the area (the others are holes or outside loops).

    A face is decided by a point inside it, except a face whose point lies within a few
    grid steps of the (exact) boundary: the rounded face may poke across the boundary
    there, so it counts as inside when most of its area is.
    """
    pos = shapely.point_on_surface(faces)
    inside = shapely.contains(area_m, pos)
    rim = shapely.multilinestrings(boundary)
    shapely.prepare(rim)
    near = np.flatnonzero(shapely.dwithin(rim, pos, 4 * NODING_GRID_M))
    if len(near):
        share = shapely.area(shapely.intersection(faces[near], area_m))
        inside[near] = share > 0.5 * shapely.area(faces[near])
    return inside


def _lookup(
    keys: np.ndarray, values: np.ndarray, coords: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """``out`` (default ``coords``) with the rows where ``coords`` equals a row of ``keys`` bit for bit
    replaced by that key's value."""
    out = coords.copy() if out is None else out.copy()
    if len(keys) == 0 or len(coords) == 0:
        return out
    k = keys[:, 0] + 1j * keys[:, 1]  # exact: complex() only pairs the two floats
    order = np.argsort(k, kind="stable")
    k, v = k[order], values[order]
    c = coords[:, 0] + 1j * coords[:, 1]
    pos = np.minimum(np.searchsorted(k, c), len(k) - 1)
    hit = k[pos] == c
    out[hit] = v[pos[hit]]
    return out


def reproject_exact(
    geoms: np.ndarray, src: CRS, dst: CRS, *, area_src: shapely.Geometry, area_dst: shapely.Geometry
) -> np.ndarray:
    """Re-project ``geoms`` vertex by vertex, giving the area's own vertices their exact ``dst`` coordinates.

    ``area_src``/``area_dst`` are the same area in both CRSs, vertex for vertex (one the
    re-projection of the other).  A vertex of ``geoms`` equal to an area vertex takes the
    area's ``dst`` coordinates instead of the round trip's (which may differ in the last
    bits), so blocks and grids end on the area boundary exactly as it was given.
    """
    from pyproj import Transformer

    keys = shapely.get_coordinates(area_src)
    values = shapely.get_coordinates(area_dst)
    if len(keys) != len(values):
        raise InvalidGeometryError("internal: the area changed shape in re-projection")
    transformer = Transformer.from_crs(src, dst, always_xy=True)

    def fix(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return _lookup(keys, values, coords, out=np.column_stack([x, y]))

    return shapely.transform(np.asarray(geoms, dtype=object), fix)


def _restore_boundary(
    pieces: np.ndarray, faces: np.ndarray, boundary: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Put the rounded boundary of the block coverage back onto the exact area boundary.

    The vertices on the rim of the coverage are the boundary's own vertices (rounded to
    the noding grid) and crossings of streets with it.  A rounded boundary vertex gets
    its exact coordinates back; a crossing goes to the nearest point of the exact
    boundary, i.e. onto the boundary segment it lies on (it moves by < 1 µm).  The same
    replacement is applied to every piece and face, so blocks keep sharing their edges.
    """
    exact = shapely.get_coordinates(boundary)
    rounded = shapely.get_coordinates(shapely.set_precision(boundary, NODING_GRID_M, mode="pointwise"))
    if len(rounded) != len(exact):  # pointwise rounding keeps every vertex; be safe anyway
        rounded = np.round(exact / NODING_GRID_M) * NODING_GRID_M
    rim = shapely.get_coordinates(shapely.boundary(shapely.coverage_union_all(faces)))
    rim = np.unique(rim, axis=0)
    restored = _lookup(rounded, exact, rim)
    moved = (restored == rim).all(axis=1)
    moved &= ~_in(rim, rounded)
    if moved.any():
        rim_line = shapely.multilinestrings(boundary)
        pts = shapely.points(rim[moved])
        restored[moved] = shapely.get_coordinates(shapely.shortest_line(rim_line, pts))[0::2]
    restored = _merge_close(restored, NODING_GRID_M / 4)
    change = (restored != rim).any(axis=1)
    keys, values = rim[change], restored[change]

    def fix(coords: np.ndarray) -> np.ndarray:
        return _lookup(keys, values, coords)

    return shapely.transform(pieces, fix), shapely.transform(faces, fix)


def _merge_close(xy: np.ndarray, eps: float) -> np.ndarray:
    """Points closer than ``eps`` to each other replaced by one of them (the first).

    Two rim vertices a grid step apart can project onto (almost) the same boundary
    point; left 1e-13 m apart, a grid ring would pinch there after re-projection.
    Made identical, the pinch is an exact touch, which overlay and validity handle.
    """
    if len(xy) < 2:
        return xy
    pts = shapely.points(xy)
    a, b = shapely.STRtree(pts).query(pts, predicate="dwithin", distance=eps)
    pair = a < b
    if not pair.any():
        return xy
    rep = np.arange(len(xy))
    for i, j in zip(a[pair].tolist(), b[pair].tolist(), strict=True):
        ri, rj = rep[i], rep[j]
        while rep[ri] != ri:
            ri = rep[ri]
        while rep[rj] != rj:
            rj = rep[rj]
        rep[max(ri, rj)] = min(ri, rj)
    for i in range(len(rep)):
        r = rep[i]
        while rep[r] != r:
            r = rep[r]
        rep[i] = r
    return xy[rep]


def _in(rows: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Which rows of ``rows`` occur (bit for bit) in ``table``."""
    t = np.sort(table[:, 0] + 1j * table[:, 1])
    r = rows[:, 0] + 1j * rows[:, 1]
    if len(t) == 0:
        return np.zeros(len(r), dtype=bool)
    pos = np.minimum(np.searchsorted(t, r), len(t) - 1)
    return t[pos] == r


def _face_edges(faces, mids, lengths, piece_width, piece_cls):
    """Aggregate noded pieces into shared edges between the two faces on either side."""
    face_tree = shapely.STRtree(faces)
    # A piece shorter than the match tolerance could touch more than two faces; its
    # length is negligible, so it is simply not counted.
    usable = lengths > 10 * MATCH_TOLERANCE_M
    pidx = np.flatnonzero(usable)
    qi, fi = face_tree.query(mids[pidx], predicate="dwithin", distance=MATCH_TOLERANCE_M)
    qi = pidx[qi]
    counts = np.bincount(qi, minlength=len(mids))
    two = counts[qi] == 2
    qi, fi = qi[two], fi[two]
    order = np.lexsort((fi, qi))
    qi, fi = qi[order], fi[order]
    p = qi[0::2]
    fa, fb = fi[0::2], fi[1::2]
    plen = lengths[p]
    pw = piece_width[p]
    pcls = piece_cls[p]
    pcost = plen * REFERENCE_WIDTH_M / np.maximum(pw, 1e-9)
    return _aggregate_edges(fa, fb, plen, pw, pcost, pcls)


def _aggregate_edges(fa, fb, plen, pw, pcost, pcls):
    """Sum piece lengths/costs per face pair; class = the class with most length on that pair."""
    if len(fa) == 0:
        e = np.empty(0, dtype=np.int64)
        return e, e.copy(), np.empty(0), np.empty(0), np.empty(0), np.empty(0, dtype=object)
    lo, hi = np.minimum(fa, fb), np.maximum(fa, fb)
    df = pd.DataFrame({"a": lo, "b": hi, "len": plen, "wl": plen * pw, "cost": pcost, "cls": pcls})
    agg = df.groupby(["a", "b"], sort=True).agg(len=("len", "sum"), wl=("wl", "sum"), cost=("cost", "sum"))
    by_cls = df.groupby(["a", "b", "cls"], sort=True)["len"].sum().reset_index()
    by_cls = by_cls.sort_values(["a", "b", "len"], ascending=[True, True, False], kind="stable")
    top = by_cls.drop_duplicates(["a", "b"]).set_index(["a", "b"])["cls"]
    agg = agg.join(top)
    a = agg.index.get_level_values(0).to_numpy(dtype=np.int64)
    b = agg.index.get_level_values(1).to_numpy(dtype=np.int64)
    length = agg["len"].to_numpy()
    width = agg["wl"].to_numpy() / np.maximum(length, 1e-12)
    return a, b, length, width, agg["cost"].to_numpy(), agg["cls"].to_numpy(dtype=object)


def _merge_sliver_faces(
    faces: np.ndarray, *, min_area_m2: float, min_width_m: float
) -> tuple[np.ndarray, int]:
    """Merge sliver faces into the neighbour they share the longest boundary with.

    Done on geometry, before edges are counted: near-coincident lines (a cut line a
    nanometre off a street) make slivers whose pieces touch three faces, and such pieces
    would otherwise hide the real adjacency between the two faces around them.
    """
    areas = shapely.area(faces)
    perims = shapely.length(faces)
    thin = (areas < min_area_m2) | (2 * areas / np.maximum(perims, 1e-12) < min_width_m)
    if not thin.any() or len(faces) == 1:
        return faces, 0
    n = len(faces)
    parent = np.arange(n)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    tree = shapely.STRtree(faces)
    # A face squeezed between a street and the boundary it was put back onto has both
    # sides on the boundary: it covers nothing, and merging it by overlay would only
    # leave a pinch of 1e-13 m in its neighbour.  Real faces are at least about half a
    # noding grid step wide.
    dropped = 2 * areas / np.maximum(perims, 1e-12) < NODING_GRID_M / 100
    for v in np.flatnonzero(thin & ~dropped)[np.argsort(areas[thin & ~dropped], kind="stable")]:
        cand = tree.query(faces[v], predicate="intersects")
        cand = cand[(cand != v) & ~dropped[cand]]
        if len(cand) == 0:
            continue
        rim = shapely.boundary(faces[v])
        shared = shapely.length(shapely.intersection(rim, shapely.boundary(faces[cand])))
        # Only a neighbour sharing a stretch of boundary can absorb the sliver: one touching
        # it at a corner (shared length 0) would make a two-part block, and a grid holding
        # it would be non-contiguous whatever the block graph says.
        edge = shared > 0
        if not edge.any():
            continue
        cand, shared = cand[edge], shared[edge]
        # longest shared boundary, preferring a neighbour that is not itself a sliver
        best = cand[np.lexsort((-shared, thin[cand]))[0]]
        a, b = find(int(v)), find(int(best))
        if a != b:
            parent[a] = b
    roots = np.array([find(i) for i in range(n)])
    keep_roots = np.unique(roots[~dropped])
    out: list[shapely.Geometry] = []
    for r in keep_roots:
        members = np.flatnonzero((roots == r) & ~dropped)
        if len(members) == 1:
            out.append(faces[members[0]])
            continue
        # Members are chained by shared edges, so the union is one Polygon; should overlay
        # round-off ever part it, its parts stay separate blocks (the coverage is the same)
        # rather than one block the partition would treat as contiguous when it is not.
        out.extend(shapely.get_parts(shapely.union_all(faces[members])))
    return np.asarray(out, dtype=object), n - len(out)


def make_blocks(
    area,
    streets,
    *,
    barriers=None,
    crs=None,
    min_area_m2: float = 1.0,
    min_width_m: float = 0.5,
) -> gpd.GeoDataFrame:
    """Cut an area into street-bounded blocks that tile it exactly.

    Street lines, barrier lines and the area boundary are noded together and
    polygonized; faces inside the area are the blocks.  Neighbouring blocks share their
    boundary vertex for vertex, so the union of the blocks is the area (up to the
    floating-point noding of crossings, far below 1e-6 m²) and no two blocks overlap.
    Faces smaller than ``min_area_m2`` or thinner than ``min_width_m`` (``2·area/perimeter``)
    are merged into the neighbour they share the longest edge with.  Streets that end
    inside a block (dead ends) do not cut it.

    Parameters
    ----------
    area : shapely Polygon/MultiPolygon (EPSG:4326) or GeoDataFrame/GeoSeries
        The village or community; a frame is unioned.
    streets : GeoDataFrame
        Street centre lines; ``street_class`` (see ``geogrid.frames.STREET_CLASSES``) is
        kept per shared edge so that partitions can prefer cutting along wider streets.
    barriers : GeoDataFrame or GeoSeries, optional
        Rivers, railways: they cut blocks like streets and are the preferred grid boundary.
    crs : CRS-like, optional
        Metric CRS to work in.  Default: the area's own CRS if projected, else
        :func:`geogrid.crs.planar_crs_for`.
    min_area_m2, min_width_m : float
        Sliver tolerances.

    Returns
    -------
    GeoDataFrame
        In the metric CRS: ``block_id``, ``area_m2``, ``neighbors`` (block ids sharing an
        edge), ``edge_classes`` and ``edge_lengths_m`` (parallel to ``neighbors``: the street
        class and length of each shared edge), geometry.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import LineString, box
    >>> area = gpd.GeoSeries([box(0, 0, 200, 100)], crs="EPSG:32651")
    >>> streets = gpd.GeoDataFrame({"street_class": ["arterial"]},
    ...                            geometry=[LineString([(100, -10), (100, 110)])], crs="EPSG:32651")
    >>> blocks = make_blocks(area, streets)
    >>> len(blocks), float(blocks.area_m2.sum()), blocks.edge_classes[0]
    (2, 20000.0, ['arterial'])
    """
    area_m, metric = working_crs(area, crs)
    lines, classes = street_lines(streets, metric)
    barrier_geoms = to_crs_array(barriers, metric) if barriers is not None and len(barriers) else None
    graph = build_block_graph(
        area_m,
        metric,
        lines,
        classes,
        barriers=barrier_geoms,
        min_area_m2=min_area_m2,
        min_width_m=min_width_m,
    )
    return graph.to_frame()
