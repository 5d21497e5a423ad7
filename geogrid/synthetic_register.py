"""A seeded synthetic base register (一户一档) for the demo and tests: clearly fake people.

Names are written the way Chinese documents anonymise people — a surname, 某 and one character
(``王某芳``) — so nobody mistakes them for real residents.  ID numbers carry the county's region
code, a birth date and a valid GB 11643 check digit (they pass :func:`geogrid.register.check_id_number`,
as a real register's do); phones are in the 170 range of virtual operators.  The frame has the
Chinese headers a county's spreadsheet has, so it goes through :func:`geogrid.register.read_register`
like any file.
"""

from __future__ import annotations

from datetime import date, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd

from geogrid.register import id_check_digit

__all__ = ["HEADERS", "make_register", "synthetic_id_number"]

HEADERS = ("地址编码", "房屋编号", "户编号", "姓名", "公民身份号码", "联系电话", "与户主关系", "标签")

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国红梅海燕林斌宇浩凯"


def synthetic_id_number(county_code: str, born: date, sequence: int, *, female: bool) -> str:
    """An 18-character ID number with a valid check digit (region = the county code).

    Examples
    --------
    >>> from geogrid.register import check_id_number
    >>> n = synthetic_id_number("320508", date(1980, 1, 1), 12, female=True)
    >>> check_id_number(n) == n, n[:14], int(n[16]) % 2
    (True, '32050819800101', 0)
    """
    if not 0 <= sequence < 500:
        raise ValueError(f"sequence must be in 0..499, got {sequence}")
    seq = sequence * 2 + (0 if female else 1)  # the 17th digit is odd for men
    first17 = f"{county_code}{born:%Y%m%d}{seq:03d}"
    return first17 + id_check_digit(first17)


def _phone(rng: np.random.Generator) -> str:
    return f"170{int(rng.integers(0, 10**8)):08d}"


def _people(size: int, rng: np.random.Generator, today: date) -> list[tuple[str, int, bool]]:
    """(relation, age, female) of the members of one household."""
    head_age = int(rng.integers(25, 88))
    people = [("户主", head_age, bool(rng.random() < 0.4))]
    if size >= 2:
        people.append(("配偶", max(20, head_age + int(rng.integers(-5, 6))), not people[0][2]))
    for _ in range(size - len(people)):
        if head_age > 55 and rng.random() < 0.5:
            people.append(("孙子女", int(rng.integers(1, 16)), bool(rng.random() < 0.5)))
        else:
            people.append(("子女", max(0, head_age - int(rng.integers(22, 36))), bool(rng.random() < 0.5)))
    return people


def _tags(relation: str, age: int, size: int, rng: np.random.Generator) -> list[str]:
    tags = []
    if age >= 70 and size == 1:
        tags.append("独居老人")
    elif age >= 65 and size == 2 and rng.random() < 0.3:
        tags.append("空巢老人")
    if age < 16 and relation == "孙子女" and rng.random() < 0.5:
        tags.append("留守儿童")
    if rng.random() < 0.01:
        tags.append("重点人群")
    if rng.random() < 0.02:
        tags.append("残疾人")
    if 25 < age < 70 and rng.random() < 0.01:
        tags.append("退役军人")
    return tags


def make_register(
    addresses: gpd.GeoDataFrame | pd.DataFrame,
    *,
    seed: int = 0,
    county_code: str = "320508",
    today: date | None = None,
) -> pd.DataFrame:
    """One row per synthetic resident of every household at ``addresses`` (``address_id``,
    ``households``): 1–5 residents per household, one house per address.

    Examples
    --------
    >>> from geogrid.register import read_register
    >>> frame = make_register(pd.DataFrame({"address_id": ["A1", "A2"], "households": [2, 1]}), seed=1)
    >>> checked = read_register(frame)
    >>> checked["household_code"].nunique(), bool(checked["name"].str.contains("某").all())
    (3, True)
    """
    rng = np.random.default_rng(seed)
    today = today or date(2024, 6, 1)
    rows: list[tuple] = []
    per_day: dict[tuple[date, bool], int] = {}  # people born on a day: the sequence keeps numbers unique
    for address_id, households in zip(addresses["address_id"], addresses["households"], strict=True):
        for h in range(int(households)):
            household_code = f"{address_id}-{h + 1:03d}"
            size = int(rng.choice([1, 2, 2, 3, 3, 3, 4, 4, 5]))
            surname = _SURNAMES[int(rng.integers(len(_SURNAMES)))]
            phone = _phone(rng)
            for relation, age, female in _people(size, rng, today):
                born = today - timedelta(days=int(age * 365.25 + rng.integers(0, 365)))
                serial = per_day[(born, female)] = per_day.get((born, female), -1) + 1
                name = surname + "某" + _GIVEN[int(rng.integers(len(_GIVEN)))]
                rows.append(
                    (
                        address_id,
                        str(address_id),
                        household_code,
                        name,
                        synthetic_id_number(county_code, born, serial, female=female),
                        phone if relation == "户主" else _phone(rng) if age >= 16 else None,
                        relation,
                        "、".join(_tags(relation, age, size, rng)),
                    )
                )
    return pd.DataFrame(rows, columns=list(HEADERS))
