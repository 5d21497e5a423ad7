"""The service's OpenAPI document in version 3.0, as OGC API clients expect at ``/api``.

FastAPI describes the service in OpenAPI 3.1 (JSON Schema 2020-12).  OGC API – Features'
"OpenAPI 3.0" conformance class, OWSLib and GDAL read 3.0, whose Schema Object is an older
JSON Schema dialect: no ``null`` type (``nullable`` instead), no ``const``, numeric
``exclusiveMinimum``/``exclusiveMaximum`` are booleans, no ``prefixItems``, one ``example``.
:func:`to_openapi30` rewrites those constructs; everything else is the same in both.
(A published converter on PyPI downloads the 3.0 meta-schema at run time and writes a
warnings file into the working directory: not something an intranet server can do.)
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["to_openapi30"]

# Keys whose values are maps of names to schemas/objects, not schemas themselves.
_MAPS = {"properties", "schemas", "patternProperties", "$defs", "definitions"}


def to_openapi30(doc: dict) -> dict:
    """An OpenAPI 3.1 document (as FastAPI builds it) rewritten as OpenAPI 3.0.3.

    Examples
    --------
    >>> doc = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {},
    ...        "components": {"schemas": {"A": {"type": "object", "properties": {
    ...            "n": {"anyOf": [{"type": "integer", "exclusiveMinimum": 0}, {"type": "null"}]},
    ...            "k": {"const": "x"}}}}}}
    >>> out = to_openapi30(doc)
    >>> out["openapi"], out["components"]["schemas"]["A"]["properties"]
    ('3.0.3', {'n': {'nullable': True, 'type': 'integer', 'exclusiveMinimum': True, 'minimum': 0}, 'k': {'enum': ['x']}})
    """
    out = copy.deepcopy(doc)
    out["openapi"] = "3.0.3"
    out.pop("jsonSchemaDialect", None)
    out.pop("webhooks", None)
    info = out.get("info", {})
    info.pop("summary", None)
    if isinstance(info.get("license"), dict):
        info["license"].pop("identifier", None)
    for schema in _schemas(out):
        _schema30(schema)
    return out


def _schemas(doc: dict):
    """Every top-level Schema Object of the document (nested ones are handled recursively)."""
    yield from (doc.get("components") or {}).get("schemas", {}).values()
    for path in (doc.get("paths") or {}).values():
        for operation in path.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters") or ():
                if "schema" in parameter:
                    yield parameter["schema"]
            bodies = [operation.get("requestBody") or {}, *(operation.get("responses") or {}).values()]
            for body in bodies:
                for media in (body.get("content") or {}).values():
                    if "schema" in media:
                        yield media["schema"]


def _schema30(s: Any) -> None:
    """Rewrite one JSON Schema 2020-12 object (and everything inside it) in place."""
    if not isinstance(s, dict):
        return
    _nullable(s)
    if "const" in s:
        s["enum"] = [s.pop("const")]
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = s.get(bound)
        if isinstance(value, int | float) and not isinstance(value, bool):
            s[limit] = value
            s[bound] = True
    if "prefixItems" in s:
        items = s.pop("prefixItems")
        s["items"] = items[0] if all(i == items[0] for i in items) else {}
    if "examples" in s and isinstance(s["examples"], list):
        examples = s.pop("examples")
        if examples:
            s["example"] = examples[0]
    if "contentMediaType" in s:
        s.pop("contentMediaType")
        s.setdefault("format", "binary")
    for key, value in s.items():
        if key in _MAPS and isinstance(value, dict):
            for sub in value.values():
                _schema30(sub)
        elif isinstance(value, dict):
            _schema30(value)
        elif isinstance(value, list):
            for sub in value:
                _schema30(sub)


def _nullable(s: dict) -> None:
    types = s.get("type")
    if isinstance(types, list):
        rest = [t for t in types if t != "null"]
        if len(rest) < len(types):
            s["nullable"] = True
        s["type"] = rest[0] if len(rest) == 1 else rest
        if isinstance(s["type"], list):  # several types: 3.0 can only say it with anyOf
            s["anyOf"] = [{"type": t} for t in s.pop("type")]
    for key in ("anyOf", "oneOf"):
        options = s.get(key)
        if not isinstance(options, list):
            continue
        rest = [o for o in options if o != {"type": "null"}]
        if len(rest) == len(options):
            continue
        s["nullable"] = True
        if len(rest) == 1:
            del s[key]
            only = rest[0]
            if "$ref" in only:  # siblings of $ref are ignored in 3.0: wrap it
                s["allOf"] = [only]
            else:
                for k, v in only.items():
                    s.setdefault(k, v)
        else:
            s[key] = rest
