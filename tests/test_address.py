"""The pure address normaliser, parser and scorer (no database)."""

from __future__ import annotations

import cn2an
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from geogrid.address import (
    EXACT,
    ONE_EDIT,
    SUFFIX_VARIANT,
    address_keys,
    edit_keys,
    fold_text,
    parse_address,
    score_candidate,
)


@pytest.mark.parametrize(
    ("written", "normalised"),
    [
        ("枫门四街四号", "枫门4街4号"),  # Chinese numerals in street and house number
        ("人民路一百零三号", "人民路103号"),
        ("人民路１２号", "人民路12号"),  # full-width
        ("人民路十二號", "人民路12号"),  # traditional
        ("人民路 12 号，", "人民路12号"),  # whitespace and punctuation
        ("人民路12号3号楼", "人民路12号3幢"),  # 号楼/栋/座 → 幢
        ("人民路12号3栋", "人民路12号3幢"),
        ("人民路12号3座", "人民路12号3幢"),
        ("人民路12号3幢二单元五零二房", "人民路12号3幢2单元502室"),  # 室/房, digit-by-digit room
        ("人民路12号3-2-502", "人民路12号3幢2单元502室"),
        ("中山路12弄3号", "中山路12巷3号"),  # a numbered 弄/里 is a 巷
        ("鹤市社区居委会", "鹤市社区"),
        ("新庄村村委会", "新庄村"),
        ("三香路12号", "三香路12号"),  # a numeral inside a name stays
        ("人民路12-1号", "人民路12-1号"),
    ],
)
def test_fold_text(written, normalised):
    assert fold_text(written) == normalised


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("江苏省苏州市姑苏区人民路1号", {"province": "江苏省", "city": "苏州市", "county": "姑苏区"}),
        ("江苏苏州姑苏区人民路1号", {"province": "江苏省", "city": "苏州市", "county": "姑苏区"}),
        ("卓尼縣柳林鎮人民路1号", {"county": "卓尼县", "township": "柳林镇"}),
        # streets named after cities keep their names
        ("朝阳路5号", {"county": None, "city": None, "street": "朝阳路"}),
        ("南京路8号", {"city": None, "street": "南京路"}),
        ("杭州路5号", {"city": None, "street": "杭州路"}),
        ("江南古镇路3号", {"township": None, "street": "江南古镇路"}),
        ("新村路2号", {"village": None, "street": "新村路"}),
        ("阳光花园3幢", {"compound": "阳光花园", "building": "3", "street": None}),
        ("人民路阳光花园3幢", {"compound": "阳光花园", "building": "3", "street": "人民路"}),
    ],
)
def test_parse_components(text, expected):
    parts = parse_address(text)
    assert {k: getattr(parts, k) for k in expected} == expected


@given(st.integers(min_value=1, max_value=9999), st.integers(min_value=1, max_value=99))
@example(10, 1)
@example(102, 20)
def test_numerals_either_way_parse_alike(number, street_no):
    arabic = parse_address(f"枫门{street_no}街{number}号")
    chinese = parse_address(f"枫门{cn2an.an2cn(street_no)}街{cn2an.an2cn(number)}号")
    assert arabic.street == chinese.street == f"枫门{street_no}街"
    assert arabic.house_number == chinese.house_number == str(number)


@given(st.text(alphabet="人民路中山街道镇村社区一二三十百号幢单元室12345 -，#楼栋", max_size=30))
def test_folding_is_idempotent(text):
    once = fold_text(text)
    assert fold_text(once) == once


def test_edit_keys_share_a_key_exactly_within_one_edit():
    def near(a: str, b: str) -> bool:
        return bool(set(edit_keys(a)) & set(edit_keys(b)))

    assert near("人民路", "人名路") and near("人民路", "人路") and near("人民路", "新人民路")
    assert near("人民路", "人民大道")  # the stem
    assert not near("人民路", "解放路")


def test_scores_rank_exact_above_suffix_variant_above_typo():
    stored = address_keys("", {"township": "枫桥镇", "street": "人民路", "house_number": "12号"})
    scores = [score_candidate(parse_address(t), stored) for t in ("人民路12号", "人民街12号", "人名路12号")]
    assert scores == [EXACT, SUFFIX_VARIANT, ONE_EDIT]
    # something left before the street that names nothing the address lies in costs a little,
    # and rules out a near street: 山文路 is not 文化路 with a stray 山
    assert score_candidate(parse_address("某某人民路12号"), stored) < EXACT
    assert score_candidate(parse_address("某民路12号"), stored) == ONE_EDIT
    assert score_candidate(parse_address("某某民路12号"), stored) is None
    assert score_candidate(parse_address("枫桥人民路12号"), stored) == EXACT  # the township's stem
    # a contradicting building or township sinks it
    with_building = address_keys("", {"street": "人民路", "house_number": "12号", "building": "3幢"})
    assert score_candidate(parse_address("人民路12号4幢"), with_building) < 0.6
    assert score_candidate(parse_address("人民路12号3栋"), with_building) == EXACT
    assert score_candidate(parse_address("和平镇人民路12号"), stored) < 0.6


def test_a_compound_does_not_stand_in_for_another_street():
    stored = address_keys(
        "", {"street": "丰收4巷", "house_number": "2号", "compound": "幸福家园", "building": "1幢"}
    )
    assert score_candidate(parse_address("工业路2弄2号幸福家园1幢"), stored) is None
    assert score_candidate(parse_address("幸福家园1幢"), stored) == EXACT  # no street written


def test_a_typo_that_takes_the_word_after_a_numeral_still_finds_the_street():
    # 永丰一路 is stored as 永丰1路; without its 路 the 一 of the typo is not folded to 1.
    stored = address_keys("", {"village": "永丰社区", "street": "永丰一路1弄", "house_number": "1号"})
    for typo in ("永丰社区永丰一1弄1号", "永丰社区永丰一银1弄1号"):
        assert score_candidate(parse_address(typo), stored) == ONE_EDIT


def test_a_street_missing_its_first_character_after_its_village():
    # 丰三街 ends 永丰社区丰三街 one character from 永丰三街 and also, with 区 taken for 永, one
    # character from it with a stray 社 left over: the reading that explains everything wins.
    stored = address_keys("", {"village": "永丰社区", "street": "永丰三街", "house_number": "2号"})
    assert score_candidate(parse_address("永丰社区丰三街2号"), stored) == ONE_EDIT


def test_compounds_of_one_word_are_different_compounds():
    stored = address_keys(
        "", {"street": "荷塘1街2弄", "house_number": "1号", "compound": "康乐家园", "building": "1幢"}
    )
    assert score_candidate(parse_address("荷塘1街2弄1号康乐小区1幢"), stored) < 0.6
    assert score_candidate(parse_address("荷塘1街2弄1号康乐家园1幢"), stored) == EXACT
