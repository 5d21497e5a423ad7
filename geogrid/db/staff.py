"""Staff rosters in PostGIS: every person per post and role, all or nothing; API keys per person.

``staff`` holds one row per person, role and post (grid, link group, division, department)
and the name of the API key issued to that person, so evaluation can tell who acted in
which role.  The grids' ``head_name``/``head_phone``/``workers`` (what lookups answer) are
kept in step with the 网格长 and 专职/兼职网格员 of the roster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geogrid.errors import ImportRowsError, RowError
from geogrid.organisation import RoleSet, load_roles
from geogrid.staff import HEAD_ROLE, WORKER_ROLES, Account, accounts, roster_from_heads


def _missing_posts(conn: Connection, roster: pd.DataFrame, plan_id: int | None) -> list[RowError]:
    """Row errors for posts that name nothing stored: no such grid (of the published plans, or
    of ``plan_id``), division or department.  A link group needs its parent grid."""
    scope = (
        "g.plan_id = :plan"
        if plan_id is not None
        else "g.plan_id IN (SELECT id FROM plans WHERE status = 'published')"
    )
    codes = roster["code"].astype(str).tolist()
    grids = set(
        conn.execute(
            sa.text(f"SELECT g.code FROM grids g WHERE {scope} AND g.code = ANY(CAST(:c AS text[]))"),
            {"c": codes + [c[:15] for c in codes if len(c) == 17], "plan": plan_id},
        ).scalars()
    )
    divisions = set(
        conn.execute(
            sa.text("SELECT code FROM divisions WHERE code = ANY(CAST(:c AS text[]))"), {"c": codes}
        ).scalars()
    )
    departments = set(
        conn.execute(
            sa.text("SELECT code FROM departments WHERE code = ANY(CAST(:c AS text[]))"), {"c": codes}
        ).scalars()
    )
    where = f"grid of plan {plan_id}" if plan_id is not None else "published grid"
    errors = []
    for i, (code, post) in enumerate(zip(codes, roster["post"], strict=True), start=1):
        if post == "grid" and code not in grids:
            errors.append(RowError(i, "code", f"no {where} {code}"))
        elif post == "link_group" and code not in grids and code[:15] not in grids:
            errors.append(RowError(i, "code", f"no {where} {code[:15]} for link group {code}"))
        elif post == "division" and code not in divisions and not code.endswith("000000"):
            errors.append(RowError(i, "code", f"no division {code} is stored"))
        elif post == "department" and code not in departments:
            errors.append(
                RowError(i, "department", f"no department {code} is stored (geogrid import departments)")
            )
    return errors


def _replace_people(conn: Connection, roster: pd.DataFrame, roles: list[str], source: str) -> None:
    """For every post of ``roster`` and every role in ``roles``: exactly the people listed stay
    (rows of people who stay keep their key)."""
    pairs = [(str(code), role) for code in roster["code"] for role in roles]
    people = [
        (str(r.code), p["role"], p["name"], p["phone"] or "", r.post)
        for r in roster.itertuples(index=False)
        for p in r.people
        if p["role"] in roles
    ]
    conn.execute(
        sa.text(
            "DELETE FROM staff s USING unnest(CAST(:pc AS text[]), CAST(:pr AS text[])) AS k(code, role) "
            "WHERE s.post_code = k.code AND s.role = k.role AND NOT EXISTS ("
            "  SELECT 1 FROM unnest(CAST(:c AS text[]), CAST(:r AS text[]), CAST(:n AS text[]), CAST(:ph AS text[])) "
            "  AS n(code, role, name, phone) "
            "  WHERE n.code = s.post_code AND n.role = s.role AND n.name = s.name AND n.phone = coalesce(s.phone, ''))"
        ),
        {
            "pc": [p[0] for p in pairs],
            "pr": [p[1] for p in pairs],
            "c": [p[0] for p in people],
            "r": [p[1] for p in people],
            "n": [p[2] for p in people],
            "ph": [p[3] for p in people],
        },
    )
    conn.execute(
        sa.text(
            "INSERT INTO staff (post_code, role, name, phone, post_kind, source) "
            "SELECT c, r, n, nullif(ph, ''), k, :source "
            "FROM unnest(CAST(:c AS text[]), CAST(:r AS text[]), CAST(:n AS text[]), CAST(:ph AS text[]), "
            "CAST(:k AS text[])) AS x(c, r, n, ph, k) "
            "ON CONFLICT (post_code, role, name, coalesce(phone, '')) DO NOTHING"
        ),
        {
            "c": [p[0] for p in people],
            "r": [p[1] for p in people],
            "n": [p[2] for p in people],
            "ph": [p[3] for p in people],
            "k": [p[4] for p in people],
            "source": source,
        },
    )


def _update_grids(conn: Connection, roster: pd.DataFrame, roles: list[str], plan_id: int | None) -> None:
    """Heads and workers of the grids (what lookups show), for the grid roles the roster has."""
    head, workers = HEAD_ROLE in roles, any(r in roles for r in WORKER_ROLES)
    grids = roster[roster["post"].isin(("grid", "link_group"))]
    if grids.empty or not (head or workers):
        return
    scope = (
        "plan_id = :plan"
        if plan_id is not None
        else "plan_id IN (SELECT id FROM plans WHERE status = 'published')"
    )
    sets = (["head_name = :head", "head_phone = :phone"] if head else []) + (
        ["workers = CAST(:workers AS jsonb)"] if workers else []
    )
    conn.execute(
        sa.text(f"UPDATE grids SET {', '.join(sets)} WHERE code = :code AND {scope}"),
        [
            {
                "code": r.code,
                "head": r.head_name,
                "phone": r.head_phone,
                "workers": json.dumps(r.workers, ensure_ascii=False),
                "plan": plan_id,
            }
            for r in grids.itertuples(index=False)
        ],
    )


def assign_staff(
    engine: Engine, roster: pd.DataFrame, *, plan_id: int | None = None, source: str = "roster"
) -> int:
    """Store a roster (see :func:`geogrid.staff.read_roster`), all or nothing; returns the posts set.

    For every post of the roster and every role the roster has a column for, the people
    listed become exactly that post's people in that role (an empty cell clears it; roles
    without a column are left as they are).  Grid posts are those of the published plans
    (what lookups answer), or of ``plan_id`` (e.g. a draft before publishing); a link
    group needs its parent grid, a division or a department must be stored.  A post that
    names nothing stored is a row error and nothing is written.  The older head/workers
    frame (``code``, ``head_name``, ``head_phone``, ``workers``) is accepted too.
    """
    if "people" not in roster.columns:
        roster = roster_from_heads(roster)
    if roster.empty:
        return 0
    roles = list(roster.attrs.get("roles") or [HEAD_ROLE, *WORKER_ROLES])
    with engine.begin() as conn:
        missing = _missing_posts(conn, roster, plan_id)
        if missing:
            raise ImportRowsError(source, missing)
        _replace_people(conn, roster, roles, source)
        _update_grids(conn, roster, roles, plan_id)
    return len(roster)


def read_staff(engine: Engine | Connection, *, posts: list[str] | None = None) -> pd.DataFrame:
    """The stored staff (``name``, ``phone``, ``role``, ``post_kind``, ``post_code``, ``key_name``),
    of the posts ``posts`` when given, in post and role order."""
    where, params = (
        ("WHERE post_code = ANY(CAST(:p AS text[]))", {"p": posts}) if posts is not None else ("", {})
    )
    sql = sa.text(
        f"SELECT name, coalesce(phone, '') AS phone, role, post_kind, post_code, key_name FROM staff {where} "
        "ORDER BY post_code, role, id"
    )
    if isinstance(engine, Connection):
        rows = engine.execute(sql, params).all()
    else:
        with engine.connect() as conn:
            rows = conn.execute(sql, params).all()
    return pd.DataFrame(rows, columns=["name", "phone", "role", "post_kind", "post_code", "key_name"])


def contacts(conn: Connection, post_codes: list[str], roles: list[str] | None = None) -> list[dict[str, str]]:
    """Names and phones of the people holding ``post_codes`` (of ``roles`` when given)."""
    rows = conn.execute(
        sa.text(
            "SELECT DISTINCT name, coalesce(phone, '') AS phone FROM staff "
            "WHERE post_code = ANY(CAST(:p AS text[])) AND (CAST(:r AS text[]) IS NULL OR role = ANY(CAST(:r AS text[]))) "
            "ORDER BY name, phone"
        ),
        {"p": post_codes, "r": roles},
    ).all()
    return [{"name": r.name, "phone": r.phone} for r in rows]


# --- keys -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedKey:
    """A key issued to a person: hand ``key`` to them (it is not stored)."""

    account: Account
    key_name: str
    key: str


def _unique_name(account: Account, taken: set[str], several: bool) -> str:
    base = account.base_name
    if several:
        base += "@" + (account.posts[0] if account.key_role != "worker" else "网格")
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}#{n}"
    taken.add(name)
    return name


def issue_keys(
    engine: Engine,
    *,
    roles: RoleSet | None = None,
    posts: list[str] | None = None,
    reissue: bool = False,
) -> list[IssuedKey]:
    """API keys for the people of the stored roster (of ``posts`` when given), one per account
    (:func:`geogrid.staff.accounts`): scope derived from their posts; the key's name is written
    to their staff rows.

    People who already have a live key for an account get none (unless ``reissue``: their old
    key is revoked and a new one issued).  All keys are created in one transaction.
    """
    from geogrid.db.keys import create_keys

    roles = roles or load_roles()
    staff = read_staff(engine, posts=posts)
    if staff.empty:
        return []
    with engine.connect() as conn:
        live = set(conn.execute(sa.text("SELECT name FROM api_keys WHERE revoked_at IS NULL")).scalars())
        taken = set(conn.execute(sa.text("SELECT name FROM api_keys")).scalars())
    found = accounts(staff, roles)
    per_person: dict[tuple[str, str], int] = {}
    for a in found:
        per_person[(a.name, a.phone)] = per_person.get((a.name, a.phone), 0) + 1
    todo: list[tuple[Account, str]] = []
    revoke: list[str] = []
    for a in found:
        held = staff[
            (staff["name"] == a.name) & (staff["phone"] == a.phone) & staff["post_code"].isin(a.posts)
        ]
        current = {k for k in held["key_name"].dropna() if k in live and k}
        if current and not reissue:
            continue
        revoke += sorted(current)
        todo.append((a, _unique_name(a, taken, per_person[(a.name, a.phone)] > 1)))
    plain = create_keys(
        engine,
        [(name, a.key_role, a.scope) for a, name in todo],
        revoke=revoke,
        then=lambda conn: _link_keys(conn, todo),
    )
    return [IssuedKey(a, name, key) for (a, name), key in zip(todo, plain, strict=True)]


def _link_keys(conn: Connection, issued: list[tuple[Account, str]]) -> None:
    if not issued:
        return
    conn.execute(
        sa.text(
            "UPDATE staff SET key_name = :k WHERE name = :n AND coalesce(phone, '') = :ph "
            "AND post_code = ANY(CAST(:posts AS text[])) AND role = ANY(CAST(:roles AS text[]))"
        ),
        [
            {"k": name, "n": a.name, "ph": a.phone, "posts": list(a.posts), "roles": list(a.roles)}
            for a, name in issued
        ],
    )


def write_keys(issued: list[IssuedKey], path, *, role_names: dict[str, str]) -> None:
    """Write issued keys to a CSV to hand out (UTF-8 with BOM, so Excel shows the Chinese)."""
    rows = [
        {
            "姓名": k.account.name,
            "电话": k.account.phone,
            "岗位": "、".join(role_names.get(r, r) for r in k.account.roles),
            "岗位编码": "、".join(k.account.posts),
            "账号角色": k.account.key_role,
            "权限范围": json.dumps(k.account.scope, ensure_ascii=False),
            "密钥名称": k.key_name,
            "API密钥": k.key,
        }
        for k in issued
    ]
    columns = ["姓名", "电话", "岗位", "岗位编码", "账号角色", "权限范围", "密钥名称", "API密钥"]
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False, encoding="utf-8-sig")
