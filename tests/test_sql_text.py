"""No user text is ever put into SQL text: not even into a comment of a ``.sql`` file.

psycopg2 fills ``%(name)s`` placeholders client-side and SQLAlchemy turns ``:name`` into
them, wherever they stand, comments included: a placeholder in a ``--`` comment puts the
bound value into the comment, and a newline in it would end the comment.
"""

from __future__ import annotations

import importlib.resources
import re

import pytest

SQL_DIR = importlib.resources.files("geogrid.db") / "sql"
SQL_FILES = sorted(p.name for p in SQL_DIR.iterdir() if p.name.endswith(".sql"))
# ``:name`` as SQLAlchemy reads it (not ``::cast``), ``%(name)s`` and ``%s`` as psycopg2 does.
PLACEHOLDER = re.compile(r"(?<![:\w]):[A-Za-z_]\w*|%\(\w+\)s|%s")


def _comments(sql: str) -> list[str]:
    """The ``--`` comments of ``sql`` (outside single-quoted literals)."""
    comments = []
    for line in sql.splitlines():
        outside = re.sub(r"'(?:[^']|'')*'", "''", line)
        if "--" in outside:
            comments.append(outside.split("--", 1)[1])
    return comments


@pytest.mark.parametrize("name", SQL_FILES)
def test_sql_comments_hold_no_placeholders(name):
    text = (SQL_DIR / name).read_text(encoding="utf-8")
    found = [c.strip() for c in _comments(text) if PLACEHOLDER.search(c)]
    assert found == [], f"{name}: placeholders in comments: {found}"


def test_the_check_sees_a_placeholder_in_a_comment():
    assert PLACEHOLDER.search(_comments("SELECT 1 -- near :public_id\n")[0])
    assert PLACEHOLDER.search(_comments("SELECT 1 -- %(texts)s = text array\n")[0])
    assert not _comments("SELECT x::text, '--:a' FROM t\n")
