"""Chinese address text the way people write it: normalise, parse, score candidates.

The same normalisation runs when standard addresses are imported and when a query
arrives, so both sides meet in one spelling:

- full-width → half-width (Unicode NFKC: ``１２号`` → ``12号``);
- traditional → simplified characters (OpenCC ``t2s``: ``人民路十二號`` → ``人民路十二号``);
- Chinese numerals → Arabic wherever they number something (cn2an: ``枫门四街四号`` →
  ``枫门4街4号``, ``五零二室`` → ``502室``; a numeral inside a name, ``三香路``, stays);
- synonyms: ``号楼/栋/座/幢`` → ``幢``, ``房`` → ``室``, a numbered ``弄/里`` → ``巷``, ``楼``
  after a floor number → ``层``, ``社区居委会`` → ``社区``, ``村委会`` → ``村``, ``3#`` → ``3号``;
- whitespace and punctuation dropped (a hyphen between digits stays: ``12-1号``);
- a leading province, prefecture-level city and county recognised with cpca and taken off
  (people write them inconsistently; the part below the county identifies the address).

:func:`parse_address` splits the rest into the standard components (township, village,
street, house number, compound, building, unit, room) and :func:`score_candidate` scores
a stored address against a parsed query: the same street and number beat a street one
character away, and a township or building that contradicts the query sinks a candidate.
The module needs no database; :mod:`geogrid.db.lookup` fetches the candidates.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

__all__ = [
    "AddressParts",
    "address_keys",
    "edit_keys",
    "fold_text",
    "normalise_address",
    "parse_address",
    "parse_addresses",
    "pinyin_initials",
    "query_street_keys",
    "score_candidate",
    "stem",
    "suggest_keys",
]

#: Score of a candidate whose street is the query's street exactly.
EXACT = 1.0
#: Same street name with another suffix (人民路 for 人民街, 人民大道).
SUFFIX_VARIANT = 0.9
#: Street one character away (one wrong, missing or extra character).
ONE_EDIT = 0.85
#: Text before the street that names nothing the candidate lies in.
UNEXPLAINED_PENALTY = 0.1
#: The query names a township, village, building... that the candidate is not in.
CONTRADICTION_PENALTY = 0.5
#: The query names a building the candidate (a gate-level address) does not record.
MISSING_BUILDING_PENALTY = 0.1

_CN_NUMERALS = "零〇一二两三四五六七八九十百千廿幺"
# A run of Chinese numerals directly before a word that it numbers.
_NUMERAL_RE = re.compile(f"([{_CN_NUMERALS}]+)(?=号|幢|栋|座|单元|室|房|层|楼|弄|巷|里|路|街|组|队|期|排|户)")
_SPACE_RE = re.compile(r"\s+")
# Punctuation between address parts; the hyphen is handled separately (12-1号).
_NOISE_RE = re.compile(r"[,，、.。;；:：'\"“”‘’()（）\[\]【】<>《》_·…/\\|]+")
# Dashes that do not join two numbers (12-1号 keeps its hyphen).
_LOOSE_DASH_RE = re.compile(r"(?<!\d)[-~—–]+|[-~—–]+(?!\d)")
_DASH_RE = re.compile(r"[~—–]")
# (characters one of which must be present, pattern, replacement): the guard skips most
# patterns for most texts (imports normalise every address).
_SYNONYMS: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (guard, re.compile(p), r)
    for guard, p, r in (
        ("#", r"(\d+)#", r"\1号"),
        ("委", r"村(?:村民委员会|村委会)", "村"),
        ("委", r"(?:社区)?(?:居民委员会|居委会)", "社区"),
        ("委", r"村民委员会|村委会", "村"),
        ("楼", r"(\d+)号楼", r"\1幢"),
        ("栋座幢", r"(\d+)(?:栋|座|幢)", r"\1幢"),
        ("房室", r"(\d+)(?:房|室)", r"\1室"),
        ("楼", r"(\d+)楼", r"\1层"),
        ("弄里巷", r"(\d+)(?:弄|里|巷)(?![路街道巷弄里])", r"\1巷"),
        # building-unit-room written with hyphens after the house number: 12号3-2-502
        ("-", r"号(\d+)-(\d+)-(\d+)$", r"号\1幢\2单元\3室"),
        # a bare room number after the unit: 2单元502
        ("元", r"单元(\d+)$", r"单元\1室"),
        # a bare house number after a street: 人民路12
        ("0123456789", r"([路街道巷])(\d+(?:-\d+)?)$", r"\1\2号"),
    )
)
_ADMIN_END_RE = re.compile(r"(?:省|市|区|县|州|盟|旗|地区)$")
_ADMIN_HEAD_RE = re.compile(r".{0,29}(?:省|市|区|县|州|盟|旗)")
_NAME_GOES_ON_RE = re.compile(r"^(?:路|街|道|巷|弄|里|号|大道|大街|胡同|社区|村|镇|乡|小区|花园|新村)")

_TOWNSHIP_RE = re.compile(r".{2,10}?(?:街道|镇|乡)")
_VILLAGE_RE = re.compile(r".{2,10}?(?:社区|村)")
_NUMBER_RE = re.compile(r"(\d+(?:-\d+)?)号")
_COMPOUND = r"\D{2,12}?(?:小区|花园|新村|公寓|家园|苑|大厦|广场|山庄|名邸|雅居|园)"
_TAIL_RE = re.compile(
    rf"(?P<compound>{_COMPOUND})?(?:(?P<building>\d+)幢)?(?:(?P<unit>\d+)单元)?(?:\d+层)?(?:(?P<room>\d+)室)?"
)
_TAIL_END_RE = re.compile(r"(?:(?P<building>\d+)幢)?(?:(?P<unit>\d+)单元)?(?:\d+层)?(?:(?P<room>\d+)室)?$")
_COMPOUND_RE = re.compile(_COMPOUND)
_STREET_END_RE = re.compile(r"(?:路|街|巷|弄|里|道|胡同|号)$")
_STEM_RE = re.compile(
    r"(?:东路|西路|南路|北路|中路|大道|大街|东街|西街|南街|北街|路|街|巷|弄|里|胡同|道|"
    r"街道|镇|乡|社区|村|小区|花园|新村|公寓|家园|苑|大厦|广场|山庄|园)$"
)
_DIGITS_RE = re.compile(r"\d+(?:-\d+)?")


@lru_cache(maxsize=1)
def _converter():
    import opencc

    return opencc.OpenCC("t2s")


def _arabic(match: re.Match[str]) -> str:
    return _digits_of(match.group(1))


@lru_cache(maxsize=10_000)
def _digits_of(numeral: str) -> str:
    import cn2an

    try:
        return str(cn2an.cn2an(numeral, "smart"))
    except (ValueError, KeyError):
        return numeral


@lru_cache(maxsize=200_000)
def fold_text(text: str) -> str:
    """Fold address text to its matching spelling (everything but the admin prefix).

    Full-width → half-width, traditional → simplified, numbering Chinese numerals →
    Arabic, synonyms to one word, whitespace and punctuation out.

    Examples
    --------
    >>> fold_text("枫门四街 四号")
    '枫门4街4号'
    >>> fold_text("人民路十二號３號樓二單元五零二房")
    '人民路12号3幢2单元502室'
    >>> fold_text("三香路１２-１号（东门）")
    '三香路12-1号东门'
    """
    s = unicodedata.normalize("NFKC", str(text))
    s = _converter().convert(s)
    s = _SPACE_RE.sub("", s)
    s = _NOISE_RE.sub("", s)
    s = _DASH_RE.sub("-", _LOOSE_DASH_RE.sub("", s))
    s = _NUMERAL_RE.sub(_arabic, s)
    for guard, pattern, repl in _SYNONYMS:
        if any(c in s for c in guard):
            s = pattern.sub(repl, s)
    return s


@dataclass(frozen=True)
class AddressParts:
    """An address split into the standard components (normalised spelling).

    ``text`` is the folded text below the county (what is matched), ``head`` the part of it
    before the house number (or before the building when there is none).  Numbers
    (``house_number``, ``building``, ``unit``, ``room``) are Arabic digits without their
    word (``"12"``, not ``"12号"``).
    """

    province: str | None = None
    city: str | None = None
    county: str | None = None
    township: str | None = None
    village: str | None = None
    street: str | None = None
    house_number: str | None = None
    compound: str | None = None
    building: str | None = None
    unit: str | None = None
    room: str | None = None
    text: str = ""
    head: str = ""

    def components(self) -> dict[str, str | None]:
        """The eleven standard components as a dict (``geogrid.frames.ADDRESS_COMPONENTS`` order)."""
        from geogrid.frames import ADDRESS_COMPONENTS

        return {name: getattr(self, name) for name in ADDRESS_COMPONENTS}


@lru_cache(maxsize=1)
def _cpca_one():
    """cpca's reader of one text as a dict (the row :func:`cpca.transform` builds a DataFrame of).

    ``transform`` costs ~2 ms a call in DataFrame overhead, a tenth of a lookup's budget, for
    ~40 µs of matching; its per-text step gives the same answer.  Should a cpca release rename
    it, ``transform`` itself is used.
    """
    import cpca

    one = getattr(cpca, "_get_one_addr", None)
    if one is not None:
        return lambda text: one(text, True, {})
    return lambda text: cpca.transform([text], pos_sensitive=True).iloc[0].to_dict()


def _admin_prefix(text: str) -> tuple[str | None, str | None, str | None, int]:
    """(province, city, county, characters consumed) of a folded text, recognised with cpca.

    cpca also finds a city inside a street name (朝阳路 → 朝阳市, 南京路 → 南京市); a prefix is
    taken only when it starts the text, ends with an administrative word (省, 市, 区, 县, 州…)
    and the text does not go on as a street, village or compound name.
    """
    # cpca only reads the head: up to the last administrative word in the first 30 characters
    # (the longest province + prefecture + county names fit).  Addresses of one village share
    # it, so an import asks cpca once per village, not once per address.
    head = _ADMIN_HEAD_RE.match(text)
    if head is None:
        return None, None, None, 0
    province, city, county, consumed = _cpca_head(head.group(0))
    if consumed <= 0 or not text[consumed:] or _NAME_GOES_ON_RE.match(text[consumed:]):
        return None, None, None, 0
    return province, city, county, consumed


@lru_cache(maxsize=20_000)
def _cpca_head(text: str) -> tuple[str | None, str | None, str | None, int]:
    row = _cpca_one()(text)
    rest, adcode = row.get("地址"), row.get("adcode")
    positions = [int(row.get(k, -1)) for k in ("省_pos", "市_pos", "区_pos")]
    consumed = len(text) - len(rest) if isinstance(rest, str) and isinstance(adcode, str) else 0
    if (
        consumed <= 0
        or min((p for p in positions if p >= 0), default=-1) != 0
        or not _ADMIN_END_RE.search(text[:consumed])
    ):
        return None, None, None, 0

    def name(value: object) -> str | None:
        return value if isinstance(value, str) and value and value != "市辖区" else None

    return name(row.get("省")), name(row.get("市")), name(row.get("区")), consumed


def normalise_address(text: str) -> str:
    """The folded text below the county: what a query and a standard address are matched on.

    Examples
    --------
    >>> normalise_address("江苏省 苏州市 姑苏区 平江街道 钮家巷３号")
    '平江街道钮家巷3号'
    >>> normalise_address("江蘇蘇州姑蘇區人民路十二號")
    '人民路12号'
    >>> normalise_address("朝阳路5号")     # a street named after a city keeps its name
    '朝阳路5号'
    """
    return parse_address(text).text


def parse_address(text: str) -> AddressParts:
    """Normalise and split one address into its standard components.

    Examples
    --------
    >>> p = parse_address("江苏省苏州市姑苏区平江街道鹤市社区鹤市二巷三号阳光花园1号楼2单元502")
    >>> p.county, p.township, p.village, p.street, p.house_number
    ('姑苏区', '平江街道', '鹤市社区', '鹤市2巷', '3')
    >>> p.compound, p.building, p.unit, p.room
    ('阳光花园', '1', '2', '502')
    >>> parse_address("人民路12号").street, parse_address("人民路12号").township is None
    ('人民路', True)
    """
    return parse_addresses([text])[0]


def parse_addresses(texts: Sequence[str]) -> list[AddressParts]:
    """:func:`parse_address` for many texts.

    Examples
    --------
    >>> [p.street for p in parse_addresses(["解放路1号", "中山路2号"])]
    ['解放路', '中山路']
    """
    folded = [fold_text(t) for t in texts]
    prefixes = [_admin_prefix(f) for f in folded]
    return [
        replace(_split_below_county(f[consumed:]), province=p, city=c, county=a)
        for f, (p, c, a, consumed) in zip(folded, prefixes, strict=True)
    ]


def _number_split(s: str) -> tuple[str, str | None, re.Match[str] | None, int]:
    """(head, house number, tail match, tail start) of folded text below the county."""
    fallback = None
    for m in _NUMBER_RE.finditer(s):
        tail = _TAIL_RE.fullmatch(s, m.end())
        if tail is not None:
            return s[: m.start()], m.group(1), tail, m.end()
        fallback = m
    if fallback is not None:
        return s[: fallback.start()], fallback.group(1), None, fallback.end()
    end = _TAIL_END_RE.search(s)
    start = end.start() if end is not None else len(s)
    return s[:start], None, end, start


def _split_below_county(s: str) -> AddressParts:
    head, number, tail, _ = _number_split(s)
    parts: dict[str, str | None] = {"house_number": number}
    if tail is not None:
        for key in ("building", "unit", "room"):
            parts[key] = tail.group(key)
        if number is not None:
            parts["compound"] = tail.group("compound")
    rest = head
    for key, pattern in (("township", _TOWNSHIP_RE), ("village", _VILLAGE_RE)):
        m = pattern.match(rest)
        # A match that leaves no street of two characters (江南古镇路) is part of the street.
        if m is not None and (len(rest) - m.end() >= 2 or (number is None and m.end() == len(rest))):
            parts[key] = m.group(0)
            rest = rest[m.end() :]
    if number is None and parts.get("compound") is None:
        # 阳光花园1幢 or 人民路阳光花园: a compound after the street (if any) ends the text.
        starts = [i for i in range(len(rest) - 2, 0, -1) if _STREET_END_RE.search(rest[:i])] + [0]
        for i in starts:
            if _COMPOUND_RE.fullmatch(rest, i):
                parts["compound"] = rest[i:]
                rest = rest[:i]
                break
    parts["street"] = rest or None
    return AddressParts(**parts, text=s, head=head)


def stem(name: str | None) -> str | None:
    """A street, division or compound name without its generic word (路, 大道, 镇, 社区, 小区…).

    Examples
    --------
    >>> stem("人民路"), stem("人民大道"), stem("枫桥镇"), stem("鹤市社区"), stem("路")
    ('人民', '人民', '枫桥', '鹤市', None)
    """
    if not name:
        return None
    s = _STEM_RE.sub("", name)
    return s if len(s) >= 2 and s != name else (name if len(name) >= 2 and s == name else None)


def _deletions(text: str) -> set[str]:
    return {text[:i] + text[i + 1 :] for i in range(len(text))}


def edit_keys(street: str | None) -> list[str]:
    """Index keys of a street name: the name, its stem and, from three characters, every
    one-character deletion.  Two names one edit apart (a wrong, missing or extra character)
    always share a key, so a GIN index on these keys finds typo candidates.

    Examples
    --------
    >>> edit_keys("人民路")
    ['人民', '人民路', '人路', '民路']
    >>> edit_keys(None)
    []
    """
    return list(_edit_keys(_loose(street))) if street else []


# A Chinese digit that normalising left alone (no 路/号… after it, e.g. because a typo took the
# 路 of 永丰一路) still counts as its digit when names are compared for typos.
_DIGIT_CHARS = str.maketrans("零〇一二两三四五六七八九", "001223456789")


def _loose(text: str) -> str:
    return text.translate(_DIGIT_CHARS)


@lru_cache(maxsize=100_000)
def _edit_keys(street: str) -> tuple[str, ...]:
    keys = {street}
    if len(street) >= 3:
        keys |= _deletions(street)
    s = stem(street)
    if s:
        keys.add(s)
    return tuple(sorted(k for k in keys if len(k) >= 2))


def query_street_keys(parts: AddressParts, *, longest: int = 12) -> tuple[list[str], list[str]]:
    """(exact keys, edit keys) to find a query's street: every ending of the text before the
    number (the street is one of them, whatever precedes it), and their :func:`edit_keys`.

    Examples
    --------
    >>> exact, fuzzy = query_street_keys(parse_address("枫桥人名路12号"))
    >>> exact
    ['名路', '人名路', '桥人名路', '枫桥人名路']
    >>> "人路" in fuzzy and "人名" in fuzzy
    True
    """
    head = parts.head
    endings = [head[len(head) - n :] for n in range(2, min(len(head), longest) + 1)]
    fuzzy: set[str] = set()
    for ending in endings:
        fuzzy.update(edit_keys(ending))
    return endings, sorted(fuzzy)


@lru_cache(maxsize=100_000)
def pinyin_initials(text: str | None) -> str:
    """First letters of the pinyin of each Chinese character; digits and letters stay.

    Examples
    --------
    >>> pinyin_initials("人民路12号")
    'rml12h'
    >>> pinyin_initials("")
    ''
    """
    if not text:
        return ""
    from pypinyin import Style, lazy_pinyin

    return "".join(lazy_pinyin(text, style=Style.FIRST_LETTER, errors="default")).lower()


def _digits(value: str | None) -> str | None:
    if not value:
        return None
    m = _DIGITS_RE.search(fold_text(value))
    return m.group(0) if m else None


@lru_cache(maxsize=100_000)
def _folded(value: str | None) -> str | None:
    return fold_text(value) or None if value else None


def address_keys(full_text: str, components: Mapping[str, object] | None = None) -> dict[str, object]:
    """The matching keys stored with a standard address (see the ``0006`` migration).

    Components given with the address (``street``, ``house_number``…) are used as they are
    (folded); an address without street and house number is parsed from ``full_text``.
    Pinyin initials follow the street as it is written (枫门四街 → ``fmsj``): that is what a
    user sees and types.

    Examples
    --------
    >>> k = address_keys("江苏省苏州市姑苏区枫桥街道枫门社区枫门四街4号2幢")
    >>> k["street_key"], k["number_key"], k["building_key"], k["township_key"], k["short_text"]
    ('枫门4街', '4', '2', '枫桥街道', '枫门4街4号2幢')
    >>> address_keys("", {"street": "枫门四街", "house_number": "4号"})["short_initials"]
    'fmsj4h'
    """
    components = components or {}
    parts = _parts_from(full_text, components)
    keys = _keys_of(parts)
    if _text(components.get("street")):
        written = [_text(components.get(k)) for k in ("street", "house_number", "compound", "building")]
    else:
        written = [
            parts.street,
            parts.house_number and parts.house_number + "号",
            parts.compound,
            parts.building and parts.building + "幢",
        ]
    # Part by part: each part's initials are cached (streets and numbers repeat, whole texts don't).
    initials = [pinyin_initials(unicodedata.normalize("NFKC", w)) if w else "" for w in written]
    keys["street_initials"] = initials[0] or None
    keys["short_initials"] = "".join(initials) or None
    return keys


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _parts_from(full_text: str, components: Mapping[str, object]) -> AddressParts:
    if not (_text(components.get("street")) or _text(components.get("house_number"))):
        parsed = parse_address(full_text)
        return parsed
    get = {k: _text(components.get(k)) for k in ("township", "village", "street", "compound")}
    parts = AddressParts(
        province=_text(components.get("province")),
        city=_text(components.get("city")),
        county=_text(components.get("county")),
        township=_folded(get["township"]),
        village=_folded(get["village"]),
        street=_folded(get["street"]),
        house_number=_digits(_text(components.get("house_number"))),
        compound=_folded(get["compound"]),
        building=_digits(_text(components.get("building"))),
        unit=_digits(_text(components.get("unit"))),
        room=_digits(_text(components.get("room"))),
    )
    below = "".join(
        x or ""
        for x in (
            parts.township,
            parts.village,
            parts.street,
            parts.house_number and parts.house_number + "号",
            parts.compound,
            parts.building and parts.building + "幢",
            parts.unit and parts.unit + "单元",
            parts.room and parts.room + "室",
        )
    )
    return replace(
        parts, text=below, head=(parts.township or "") + (parts.village or "") + (parts.street or "")
    )


def _keys_of(p: AddressParts) -> dict[str, object]:
    """The stored keys of parsed parts (pinyin initials are added by :func:`address_keys`)."""
    short = "".join(
        x or ""
        for x in (
            p.street,
            p.house_number and p.house_number + "号",
            p.compound,
            p.building and p.building + "幢",
        )
    )
    return {
        "match_text": p.text or None,
        "street_key": p.street,
        "street_keys": edit_keys(p.street),
        "number_key": p.house_number,
        "compound_key": p.compound,
        "building_key": p.building,
        "unit_key": p.unit,
        "room_key": p.room,
        "township_key": p.township,
        "village_key": p.village,
        "short_text": short or None,
    }


_ASCII_PREFIX_RE = re.compile(r"[a-z0-9]+")
_TRAILING_NUMERAL_RE = re.compile(f"([{_CN_NUMERALS}]+)$")


def _typed_numeral(match: re.Match[str]) -> str:
    """A Chinese numeral being typed, as the digits it starts with: 十二 → 12, but 十 → 1 (十…)."""
    digits = _arabic(match)
    return digits.rstrip("0") or digits if match.group(1)[-1] in "十百千" else digits


def suggest_keys(text: str) -> dict[str, str | None]:
    """What type-ahead matches for a partly typed address.

    ``prefix``: the normalised text after a township/village the text began with (without the
    号/室 that normalising adds to a trailing number: the user may be typing 12 of 120);
    ``initials``: the text itself when it is pinyin initials (``rml`` for 人民路);
    ``township``/``village``: the names it began with, as filters.

    Examples
    --------
    >>> suggest_keys("枫桥镇人民路1")
    {'prefix': '人民路1', 'initials': None, 'township': '枫桥镇', 'village': None}
    >>> suggest_keys("RML12")["initials"]
    'rml12'
    """
    raw = fold_text(text)
    if _ASCII_PREFIX_RE.fullmatch(raw.lower()):
        return {"prefix": None, "initials": raw.lower(), "township": None, "village": None}
    rest = parse_address(text).text
    # While typing, a township or village may be followed by a single character of the street.
    found: dict[str, str | None] = {"township": None, "village": None}
    for key, pattern in (("township", _TOWNSHIP_RE), ("village", _VILLAGE_RE)):
        m = pattern.match(rest)
        if m is not None:
            found[key] = m.group(0)
            rest = rest[m.end() :]
    typed = unicodedata.normalize("NFKC", text).strip()[-1:]
    if typed and (typed.isdigit() or typed in _CN_NUMERALS) and rest[-1:] in ("号", "室"):
        rest = rest[:-1]
    rest = _TRAILING_NUMERAL_RE.sub(_typed_numeral, rest)  # 人民路十二 → 人民路12
    return {"prefix": rest, "initials": None, **found}


# --------------------------------------------------------------------------- scoring


def _street_matches(query: AddressParts, street: str | None) -> list[tuple[float, str]]:
    """Every way the candidate street can end the text before the number: (score, text before)."""
    if not street:
        return []
    head = query.head
    if head.endswith(street):
        return [(EXACT, head[: len(head) - len(street)])]
    from rapidfuzz.distance import Levenshtein

    out = []
    street_stem = stem(street)
    for n in range(max(2, len(street) - 1), min(len(head), len(street) + 1) + 1):
        ending, before = head[len(head) - n :], head[: len(head) - n]
        if street_stem and stem(ending) == street_stem:
            out.append((SUFFIX_VARIANT, before))
        elif (
            max(len(ending), len(street)) >= 3
            and Levenshtein.distance(_loose(ending), _loose(street), score_cutoff=1) <= 1
        ):
            out.append((ONE_EDIT, before))
    return out


def _explained(before: str, names: Sequence[str | None]) -> str:
    """What is left of ``before`` after taking out each name (or its stem)."""
    for name in names:
        if not name or not before:
            continue
        for form in (name, stem(name)):
            if form and form in before:
                before = before.replace(form, "", 1)
                break
    return before


def _contradicts(asked: str | None, have: str | None, *, by_stem: bool = True) -> bool:
    """The query names something (a township, a building number…) and the candidate has another.

    Townships and villages agree by stem (枫桥 = 枫桥镇); compounds only when equal, because
    one village may have both a 康乐小区 and a 康乐家园.
    """
    if not asked or not have or asked == have:
        return False
    if asked.isdigit() or have.isdigit() or not by_stem:
        return True
    return stem(asked) != stem(have)


def _compound_matches(query: AddressParts, compound: str | None) -> list[tuple[float, str]]:
    """A query without a matching street can still name the compound (阳光花园1幢)."""
    if not query.compound or not compound:
        return []
    before = (
        query.head[: len(query.head) - len(query.compound)] if query.head.endswith(query.compound) else ""
    )
    if query.compound == compound:
        return [(EXACT, before)]
    if stem(query.compound) == stem(compound):
        return [(SUFFIX_VARIANT, before)]
    return []


def score_candidate(query: AddressParts, candidate: Mapping[str, str | None]) -> float | None:
    """Score a stored address (its :func:`address_keys` plus ``province``/``city``/``county``)
    against a parsed query, in ``(0, 1]``; ``None`` when it does not match at all.

    1.0 = same street and number with nothing left unexplained; a street with another suffix
    scores 0.9, one character away 0.85; text before the street that names nothing the
    candidate lies in costs 0.1 (and rules out a street that is not exact); a township, village,
    county, compound or building the query names and the candidate contradicts costs 0.5.

    Examples
    --------
    >>> stored = address_keys("枫桥镇枫门村人民路12号")
    >>> score_candidate(parse_address("枫门村人民路12号"), stored)
    1.0
    >>> score_candidate(parse_address("人名路12号"), stored)      # one wrong character
    0.85
    >>> score_candidate(parse_address("和平镇人民路12号"), stored)  # another township
    0.4
    >>> score_candidate(parse_address("人民路14号"), stored) is None
    True
    """
    if query.house_number is not None and candidate.get("number_key") != query.house_number:
        return None
    names = [candidate.get(k) for k in ("township_key", "village_key", "county", "city", "province")]
    options = _street_matches(query, candidate.get("street_key"))
    if not options and not query.street:  # no street written: the compound may name it
        options = _compound_matches(query, candidate.get("compound_key"))
    scores = []
    for score, before in options:
        if not _explained(before, names):
            scores.append(score)
        elif score == EXACT:
            scores.append(score - UNEXPLAINED_PENALTY)
        # else: a near street plus text nobody can place is two departures, not one typo
        # (山文路 is not 文化路 with a stray 山)
    if not scores:
        return None
    score = max(scores)
    for asked, key in (
        (query.township, "township_key"),
        (query.village, "village_key"),
        (query.county, "county"),
        (query.city, "city"),
        (query.compound, "compound_key"),
        (query.building, "building_key"),
        (query.unit, "unit_key"),
        (query.room, "room_key"),
    ):
        if _contradicts(asked, candidate.get(key), by_stem=key != "compound_key"):
            score -= CONTRADICTION_PENALTY
    if query.building and not candidate.get("building_key"):
        score -= MISSING_BUILDING_PENALTY
    return round(score, 4) if score > 0 else None
