"""Vendored browser assets (Leaflet, its heat plugin, Swagger UI) for pages that work with no internet.

Government intranets cannot reach a CDN, so every script and style a geogrid map uses comes
from this package.  The files are pinned in the repository's ``package.json`` (npm), installed
with ``npm ci`` and copied into ``geogrid/static/vendor/`` (git-ignored) by::

    bash scripts/vendor_assets.sh          # npm ci + python -m geogrid.assets vendor

Maps either embed the files (``assets="inline"``) or link them under a URL prefix such as
``/static/vendor`` (the API mounts ``geogrid/static`` at ``/static``).
"""

from __future__ import annotations

import base64
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from geogrid.errors import AssetsMissingError

SETUP_COMMAND = "bash scripts/vendor_assets.sh"
STATIC_DIR = Path(__file__).resolve().parent / "static"
VENDOR_DIR = STATIC_DIR / "vendor"


@dataclass(frozen=True)
class Asset:
    """One vendored file: its name in geogrid, kind, path under the vendor dir and npm source."""

    name: str
    kind: str  # "js" | "css"
    path: str  # relative to VENDOR_DIR, also the URL path under the prefix
    source: str  # relative to node_modules


ASSETS: dict[str, Asset] = {
    a.name: a
    for a in (
        Asset("leaflet.css", "css", "leaflet/leaflet.css", "leaflet/dist/leaflet.css"),
        Asset("leaflet.js", "js", "leaflet/leaflet.js", "leaflet/dist/leaflet.js"),
        Asset("leaflet-heat.js", "js", "leaflet.heat/leaflet-heat.js", "leaflet.heat/dist/leaflet-heat.js"),
        # The API's interactive docs (/docs), which FastAPI would otherwise load from a CDN.
        Asset("swagger-ui.css", "css", "swagger-ui/swagger-ui.css", "swagger-ui-dist/swagger-ui.css"),
        Asset(
            "swagger-ui-bundle.js",
            "js",
            "swagger-ui/swagger-ui-bundle.js",
            "swagger-ui-dist/swagger-ui-bundle.js",
        ),
        # Trend charts of the monthly report page (/reports/monthly).
        Asset("chart.js", "js", "chart.js/chart.umd.js", "chart.js/dist/chart.umd.js"),
    )
}
# Files copied along with the assets: images referenced by leaflet.css, licences.
_EXTRA_FILES: tuple[tuple[str, str], ...] = (
    ("leaflet/dist/images", "leaflet/images"),
    ("leaflet/LICENSE", "leaflet/LICENSE"),
    ("leaflet.heat/LICENSE", "leaflet.heat/LICENSE"),
    ("swagger-ui-dist/LICENSE", "swagger-ui/LICENSE"),
    ("swagger-ui-dist/NOTICE", "swagger-ui/NOTICE"),
    ("swagger-ui-dist/favicon-32x32.png", "swagger-ui/favicon-32x32.png"),
    ("chart.js/LICENSE.md", "chart.js/LICENSE.md"),
)
_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".gif": "image/gif"}


def vendor_dir() -> Path:
    """Directory holding the vendored files (``geogrid/static/vendor``)."""
    return VENDOR_DIR


def _lookup(name: str) -> Asset:
    try:
        return ASSETS[name]
    except KeyError:
        raise AssetsMissingError(f"unknown asset {name!r}; known: {sorted(ASSETS)}") from None


def missing_assets(names: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """Names of the assets (default: all) whose vendored file is missing or empty."""
    out = []
    for name in names or tuple(ASSETS):
        path = VENDOR_DIR / _lookup(name).path
        if not path.is_file() or path.stat().st_size == 0:
            out.append(name)
    return out


def check_assets(names: list[str] | tuple[str, ...] | None = None) -> None:
    """Raise :class:`AssetsMissingError` naming the setup command unless the assets are vendored.

    Examples
    --------
    >>> check_assets(["leaflet.js"])   # after `bash scripts/vendor_assets.sh`
    """
    missing = missing_assets(names)
    if missing:
        raise AssetsMissingError(
            f"map assets {missing} are not vendored in {VENDOR_DIR}; geogrid maps load no script from a "
            f"CDN, so install them once from npm with `{SETUP_COMMAND}` (run in the repository root; "
            "needs node/npm)"
        )


def asset_path(name: str) -> Path:
    """Path of a vendored asset; raises :class:`AssetsMissingError` when it is missing."""
    check_assets([name])
    return VENDOR_DIR / ASSETS[name].path


def asset_urls(base_url: str = "/static/vendor") -> dict[str, str]:
    """URL of every asset under ``base_url`` (the API serves ``geogrid/static`` at ``/static``).

    Examples
    --------
    >>> asset_urls("/static/vendor")["leaflet.js"]
    '/static/vendor/leaflet/leaflet.js'
    """
    base = str(base_url).rstrip("/")
    return {name: f"{base}/{a.path}" for name, a in ASSETS.items()}


def _data_uri(path: Path) -> str:
    mime = _MIME.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def asset_text(name: str) -> str:
    """Content of an asset, ready to embed in a page.

    CSS ``url(relative)`` references (Leaflet's control and marker images) become ``data:`` URIs,
    since an embedded style has no directory to resolve them against; source-map comments are
    dropped (nothing to fetch them from).

    Examples
    --------
    >>> "url(images/" in asset_text("leaflet.css")
    False
    """
    path = asset_path(name)
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"^\s*//# sourceMappingURL=.*$", "", text, flags=re.MULTILINE)
    if ASSETS[name].kind == "css":

        def inline(match: re.Match) -> str:
            ref = match.group(2)
            if ref.startswith(("data:", "#", "http:", "https:", "//")):
                return match.group(0)
            target = (path.parent / ref).resolve()
            return f'url("{_data_uri(target)}")' if target.is_file() else match.group(0)

        text = re.sub(r"url\((['\"]?)([^'\")]+)\1\)", inline, text)
    return text


def inline_tag(name: str) -> str:
    """``<script>`` or ``<style>`` element embedding an asset (``</`` inside is escaped)."""
    text = asset_text(name)
    if ASSETS[name].kind == "js":
        return "<script>" + text.replace("</script", "<\\/script") + "</script>"
    return "<style>" + text.replace("</style", "<\\/style") + "</style>"


def link_tag(name: str, base_url: str) -> str:
    """``<script src>`` or ``<link rel=stylesheet>`` element for an asset under ``base_url``."""
    url = asset_urls(base_url)[name]
    if ASSETS[name].kind == "js":
        return f'<script src="{url}"></script>'
    return f'<link rel="stylesheet" href="{url}"/>'


def vendor_assets(node_modules: str | Path = "node_modules", *, dest: str | Path | None = None) -> list[Path]:
    """Copy the pinned npm files from ``node_modules`` into the vendor directory.

    Parameters
    ----------
    node_modules : path
        The ``node_modules`` folder populated by ``npm ci`` in the repository root.
    dest : path, optional
        Target directory (default :data:`VENDOR_DIR`).

    Returns
    -------
    list of Path
        The files written.
    """
    src_root = Path(node_modules)
    out_root = Path(dest) if dest is not None else VENDOR_DIR
    pairs = [(a.source, a.path) for a in ASSETS.values()] + list(_EXTRA_FILES)
    missing = [s for s, _ in pairs if not (src_root / s).exists()]
    if missing:
        raise AssetsMissingError(
            f"{src_root} lacks {missing}; run `npm ci --no-audit --no-fund` in the repository root first "
            f"(or `{SETUP_COMMAND}`)"
        )
    written: list[Path] = []
    for src_rel, dst_rel in pairs:
        src, dst = src_root / src_rel, out_root / dst_rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
            written.extend(p for p in dst.rglob("*") if p.is_file())
        else:
            shutil.copyfile(src, dst)
            written.append(dst)
    return written


def _main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m geogrid.assets", description="Vendor Leaflet assets.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("vendor", help="copy pinned files from node_modules into geogrid/static/vendor")
    v.add_argument("--node-modules", default="node_modules")
    sub.add_parser("check", help="exit 1 with the setup command if assets are missing")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "vendor":
            files = vendor_assets(args.node_modules)
            print(f"vendored {len(files)} files into {VENDOR_DIR}")
        check_assets()
    except AssetsMissingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.cmd == "check":
        print(f"all {len(ASSETS)} map assets present in {VENDOR_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
