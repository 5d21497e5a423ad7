"""The register's pure part: ID numbers, phones, masking, keyed hashes, reading files by row."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geogrid import register
from geogrid.errors import ImportRowsError, InputFileError
from geogrid.synthetic_register import make_register, synthetic_id_number

VALID = "11010519491231002X"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("110105194912310021", "check digit is 1, expected X"),
        ("110105194902300025", "birth date 19490230 does not exist"),
        ("110105491231002", "15-digit first-generation"),
        ("11010519491231002", "18 characters"),
        ("1101051949123100XX", "18 characters"),
        ("990105194912310029", "names no province"),
        ("110105210012310020", "not plausible"),  # born in 2100
        (110105194912310020.0, "stored as a number"),
    ],
)
def test_malformed_id_numbers_are_refused_with_the_reason(text, reason):
    with pytest.raises(ValueError, match=reason):
        register.check_id_number(text, today=date(2024, 6, 1))


def test_id_numbers_are_normalised():
    assert register.check_id_number(" １１０１０５１９４９１２３１００２ｘ ") == VALID
    assert register.birth_date(VALID) == date(1949, 12, 31)
    assert register.mask_id(VALID) == "1101**********002X"


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2024, 1, 1)),
    st.integers(0, 499),
    st.booleans(),
    st.integers(0, 16),
    st.integers(1, 9),
)
def test_every_single_digit_error_is_caught(born, sequence, female, position, delta):
    number = synthetic_id_number("320508", born, sequence, female=female)
    assert register.check_id_number(number, today=date(2024, 6, 1)) == number
    wrong = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1 :]
    with pytest.raises(ValueError):
        register.check_id_number(wrong, today=date(2024, 6, 1))


@pytest.mark.parametrize("text", ["12345678901", "1391234567", "139123456789", "0512", "abc", "23912345678"])
def test_malformed_phones_are_refused(text):
    with pytest.raises(ValueError, match="mainland"):
        register.check_phone(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("13912345678", "13912345678"), ("+86 139-1234-5678".replace("-", " "), "13912345678"),
     ("0512-65123456", "0512-65123456"), ("01065123456", "01065123456"), ("0512-65123456-801", "0512-65123456-801")],
)  # fmt: skip
def test_mainland_phones_are_accepted(text, expected):
    assert register.check_phone(text) == expected


def test_the_search_hash_depends_on_the_secret_and_the_cipher_round_trips():
    a, b = register.derive_keys(b"a" * 32), register.derive_keys(b"b" * 32)
    assert register.id_hash(VALID, a) == register.id_hash(VALID, a)
    assert register.id_hash(VALID, a) != register.id_hash(VALID, b)
    assert VALID not in register.id_hash(VALID, a)
    token = register.encrypt_id(VALID, a)
    assert VALID not in token and token != register.encrypt_id(VALID, a)  # a fresh IV every time
    assert register.decrypt_id(token, a) == VALID
    with pytest.raises(ValueError, match="32 bytes"):
        register.derive_keys(b"short")


def _rows(**overrides) -> pd.DataFrame:
    base = {
        "地址编码": ["A1", "A1", "A2"],
        "户编号": ["H1", "H1", "H2"],
        "姓名": ["王某芳", "李某强", "赵某敏"],
        "公民身份号码": [
            synthetic_id_number("320508", date(1950, 3, 1), 1, female=True),
            synthetic_id_number("320508", date(1952, 4, 2), 1, female=False),
            synthetic_id_number("320508", date(1990, 5, 3), 2, female=True),
        ],
        "联系电话": ["13912345678", None, "0512-65123456"],
        "与户主关系": ["户主", "配偶", "户主"],
        "标签": ["空巢老人", "残疾人、空巢老人", None],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def test_a_good_register_reads_whole():
    rows = register.read_register(_rows())
    assert rows["row"].tolist() == [1, 2, 3]
    assert rows["house_code"].tolist() == ["A1", "A1", "A2"]
    assert rows["tags"].tolist() == [["空巢老人"], ["空巢老人", "残疾人"], []]
    assert pd.isna(rows["phone"].iloc[1])


def test_every_bad_row_is_named_and_nothing_is_returned():
    ids = _rows()["公民身份号码"].tolist()
    bad = _rows(
        公民身份号码=[ids[0][:-1] + ("0" if ids[0][-1] != "0" else "1"), ids[1], ids[1]],
        联系电话=["1391234567", None, "13912345678"],
        标签=["空巢老人", "外星人", None],
    )
    with pytest.raises(ImportRowsError) as info:
        register.read_register(bad)
    found = [(e.row, e.field) for e in info.value.errors]
    assert found == [(1, "id_number"), (1, "phone"), (2, "tags"), (3, "id_number")]
    assert "same ID number is on row 2" in str(info.value)
    assert "unknown tag '外星人'" in str(info.value)


def test_a_household_at_two_addresses_is_refused():
    with pytest.raises(ImportRowsError, match="household H1 is at another address/house on row 1"):
        register.read_register(_rows(地址编码=["A1", "A2", "A2"]))


def test_a_register_without_id_numbers_is_refused():
    with pytest.raises(InputFileError, match="id_number"):
        register.read_register(_rows().drop(columns="公民身份号码"))


def test_a_gbk_csv_and_an_excel_sheet_read_the_same(tmp_path):
    frame = _rows()
    csv = tmp_path / "一户一档.csv"
    csv.write_bytes(frame.to_csv(index=False).encode("gbk"))
    xlsx = tmp_path / "一户一档.xlsx"
    frame.to_excel(xlsx, index=False, sheet_name="居民")
    a, b = register.read_register(csv), register.read_register(xlsx)
    assert a.drop(columns="tags").equals(b.drop(columns="tags")) and a["tags"].tolist() == b["tags"].tolist()
    # an Excel column of ID numbers typed as numbers loses digits: refused row by row
    numeric = frame.assign(公民身份号码=[float(i) for i in frame["公民身份号码"].str.replace("X", "0")])
    numeric.to_excel(xlsx, index=False)
    with pytest.raises(ImportRowsError, match="stored as a number"):
        register.read_register(xlsx)


def test_the_synthetic_register_is_valid_and_clearly_fake():
    addresses = pd.DataFrame({"address_id": [f"A{i}" for i in range(40)], "households": [3] * 40})
    frame = make_register(addresses, seed=2)
    rows = register.read_register(frame)
    assert rows["household_code"].nunique() == 120
    assert rows["name"].str.fullmatch(r".某.").all()
    assert rows["phone"].dropna().str.startswith("170").all()
    assert rows["id_number"].is_unique
