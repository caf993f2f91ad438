"""lib.recipients finds the right columns, explains bad rows, and applies only approvals."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from lib.models import Recipient
from lib.recipients import (
    ColumnMap,
    apply_approval_edits,
    check_rows,
    duplicate_message,
    ensure_columns,
    is_approved,
    match_columns,
    set_all_approved,
    validate_row,
)
from lib.writeback import APPROVED, RESULT_COLUMNS

# ---------------------------------------------------------------------------- match_columns

# (id, headers, overrides, expected (first, last, email, approved))
MATCH_CASES = [
    (
        "title-case",
        ["First Name", "Last Name", "Email", "Approved"],
        None,
        ("First Name", "Last Name", "Email", "Approved"),
    ),
    (
        "snake-case",
        ["first_name", "last_name", "email_address"],
        None,
        ("first_name", "last_name", "email_address", None),
    ),
    ("camel-case", ["FirstName", "LastName", "EmailAddress"], None, ("FirstName", "LastName", "EmailAddress", None)),
    (
        "email-address-spaced",
        ["Given name", "Surname", "Email Address"],
        None,
        ("Given name", "Surname", "Email Address", None),
    ),
    ("e-mail", ["fname", "lname", "E-mail"], None, ("fname", "lname", "E-mail", None)),
    ("padded-email", ["First", "Last", " email "], None, ("First", "Last", " email ", None)),
    ("approval-synonyms", ["First", "Last", "Mail", "Send gift?"], None, ("First", "Last", "Mail", "Send gift?")),
    (
        "tolerant-pass",
        ["Recipient's First Name", "Contact Last Name (req)", "Primary Email", "Approved for gift?"],
        None,
        ("Recipient's First Name", "Contact Last Name (req)", "Primary Email", "Approved for gift?"),
    ),
    ("exact-beats-tolerant", ["Email opt-out", "Email", "First", "Last"], None, ("First", "Last", "Email", None)),
    ("full-name-not-split", ["Name", "Full name", "Email"], None, (None, None, "Email", None)),
    ("first-and-last-in-one-not-matched", ["First and last name", "Email"], None, (None, None, "Email", None)),
    ("result-columns-never-matched", ["Email", *RESULT_COLUMNS], None, (None, None, "Email", None)),
    ("first-of-two-emails-wins", ["Work Email", "Email", "First", "Last"], None, ("First", "Last", "Work Email", None)),
    (
        "overrides-win",
        ["First Name", "Last Name", "Email", "Personal mail", "Who"],
        {"email": "Personal mail", "first_name": "Who"},
        ("Who", "Last Name", "Personal mail", None),
    ),
    ("override-by-label", ["A", "B", "C"], {"First name": "A", "Last name": "B", "Email": "C"}, ("A", "B", "C", None)),
    ("override-empty-unmaps", ["First", "Last", "Email", "Gift"], {"approved": ""}, ("First", "Last", "Email", None)),
    (
        "override-column-not-reused",
        ["Email", "Backup", "First", "Last"],
        {"email": "Backup", "approved": "Email"},
        ("First", "Last", "Backup", "Email"),
    ),
]


@pytest.mark.parametrize("headers,overrides,expected", [c[1:] for c in MATCH_CASES], ids=[c[0] for c in MATCH_CASES])
def test_match_columns(headers: list[str], overrides: dict[str, str] | None, expected: tuple) -> None:
    assert match_columns(headers, overrides) == ColumnMap(*expected)


@pytest.mark.parametrize(
    "headers,missing",
    [
        (["First Name", "Last Name", "Email"], []),
        (["Name", "Email"], ["First name", "Last name"]),
        (["Notes"], ["First name", "Last name", "Email"]),
        (["first", "Company"], ["Last name", "Email"]),
    ],
)
def test_missing_reports_required_fields_by_human_name(headers: list[str], missing: list[str]) -> None:
    assert match_columns(headers).missing() == missing


def test_unknown_override_field_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        match_columns(["A"], {"phone": "A"})


# ---------------------------------------------------------------------------- is_approved


@pytest.mark.parametrize(
    "value,expected",
    [
        (True, True),
        (False, False),
        (np.True_, True),
        (np.False_, False),
        (1, True),
        (0, False),
        (1.0, True),
        (0.0, False),
        (float("nan"), False),
        (np.int64(1), True),
        (Decimal("1"), True),
        ("TRUE", True),
        ("true", True),
        (" Yes ", True),
        ("y", True),
        ("1", True),
        ("x", True),
        ("X", True),
        ("✓", True),
        ("✔", True),
        ("Checked", True),
        ("on", True),
        ("FALSE", False),
        ("no", False),
        ("", False),
        ("0", False),
        ("n", False),
        ("maybe", False),
        ("off", False),
        (None, False),
        (pd.NA, False),
    ],
)
def test_is_approved(value: object, expected: bool) -> None:
    assert is_approved(value) is expected


# ---------------------------------------------------------------------------- validate_row


@pytest.mark.parametrize(
    "first,last,email,problems",
    [
        ("Alice", "Smith", "alice@example.com", []),
        ("  Al ", " Bo ", " al@example.com ", []),
        ("", "Smith", "a@example.com", ["First name is missing"]),
        ("   ", "Smith", "a@example.com", ["First name is missing"]),
        ("Alice", "A", "a@example.com", ["Last name 'A' is too short (at least 2 characters)"]),
        ("A", "", "a@example.com", ["First name 'A' is too short (at least 2 characters)", "Last name is missing"]),
        ("x" * 256, "Smith", "a@example.com", [f"First name '{'x' * 59}…' is too long (at most 255 characters)"]),
        ("x" * 255, "Smith", "a@example.com", []),
        ("Alice", "Smith", "", ["Email is missing"]),
        ("Alice", "Smith", "bob@@x", ["Email 'bob@@x' is not a valid address"]),
        ("Alice", "Smith", "bob", ["Email 'bob' is not a valid address"]),
        ("Alice", "Smith", "bob@localhost", ["Email 'bob@localhost' is not a valid address"]),
        ("José", "Núñez", "josé@exämple.com", []),
        ("", "", "", ["First name is missing", "Last name is missing", "Email is missing"]),
    ],
)
def test_validate_row(first: str, last: str, email: str, problems: list[str]) -> None:
    assert validate_row(first, last, email) == problems


# ---------------------------------------------------------------------------- check_rows


def _frame(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["First", "Last", "Email", "Approved"], dtype="str")


CMAP = ColumnMap("First", "Last", "Email", "Approved")


def test_check_rows_duplicates_point_at_the_first_row() -> None:
    df = _frame(
        [
            ("Al", "Bo", "al@x.com", "yes"),
            ("Cy", "Do", "cy@x.com", ""),
            ("Al", "Bo", " AL@X.com ", "yes"),
            ("Ed", "Fe", "", "yes"),
            ("Gi", "Ho", "", ""),
            ("Cy", "Do", "Cy@x.COM", "TRUE"),
        ]
    )
    checks = check_rows(df, CMAP)
    assert [c.row_number for c in checks] == [2, 3, 4, 5, 6, 7]  # as a spreadsheet: the header is row 1
    assert [c.duplicate_of for c in checks] == [None, None, 2, None, None, 3]
    assert checks[2].problems == (duplicate_message(2),)
    assert duplicate_message(12) == "Same email as row 12, which is sent instead"
    assert [c.valid for c in checks] == [True, True, False, False, False, False]
    assert [c.approved for c in checks] == [True, False, True, True, False, True]
    assert checks[2].recipient == Recipient("Al", "Bo", "AL@X.com")
    assert checks[3].problems == ("Email is missing",)


def test_check_rows_keys_default_to_index_and_can_be_given() -> None:
    df = _frame([("Al", "Bo", "a@x.com", ""), ("Cy", "Do", "c@x.com", "")])
    assert [c.row_key for c in check_rows(df, CMAP)] == ["0", "1"]
    assert [c.row_key for c in check_rows(df, CMAP, ["r7", "r9"])] == ["r7", "r9"]
    with pytest.raises(ValueError):
        check_rows(df, CMAP, ["only-one"])


def test_check_rows_with_missing_columns_and_nan() -> None:
    df = pd.DataFrame({"Email": ["a@x.com", None], "First": ["Al", float("nan")]}, dtype=object)
    checks = check_rows(df, ColumnMap("First", None, "Email", None))
    assert checks[0].problems == ("Last name is missing",)
    assert checks[1].problems == ("First name is missing", "Last name is missing", "Email is missing")
    assert not any(c.approved for c in checks)


def test_check_rows_50k_rows_keeps_the_first_of_each_email() -> None:
    n = 50_000
    df = pd.DataFrame(
        {
            "First": ["Alice"] * n,
            "Last": ["Smith"] * n,
            "Email": [f"p{i % 500}@example.com" for i in range(n)],
            "Approved": ["yes"] * n,
        },
        dtype="str",
    )
    checks = check_rows(df, CMAP)
    assert sum(c.valid for c in checks) == 500


# ---------------------------------------------------------------------------- edits


def test_apply_approval_edits_only_touches_approved_and_not_the_input() -> None:
    df = _frame([("Al", "Bo", "a@x.com", "yes"), ("Cy", "Do", "c@x.com", ""), ("Ed", "Fe", "e@x.com", "")])
    before = df.copy()
    edits = {
        0: {"Approved": False, "First": "Hacked"},
        2: {"Approved": True},
        "1": {"Email": "x@y.z"},
        99: {"Approved": True},
    }
    out = apply_approval_edits(df, edits, "Approved")
    pd.testing.assert_frame_equal(df, before)
    assert out["Approved"].tolist() == ["FALSE", "", "TRUE"]
    assert out[["First", "Last", "Email"]].values.tolist() == before[["First", "Last", "Email"]].values.tolist()
    assert [is_approved(v) for v in out["Approved"]] == [False, False, True]


def test_apply_approval_edits_keeps_bool_columns_bool_and_adds_missing_column() -> None:
    df = pd.DataFrame({"Email": ["a@x.com", "b@x.com"], "Approved": [False, False]})
    assert apply_approval_edits(df, {1: {"Approved": True}}, "Approved")["Approved"].tolist() == [False, True]
    plain = pd.DataFrame({"Email": ["a@x.com"]}, dtype="str")
    out = apply_approval_edits(plain, {0: {APPROVED: True}}, APPROVED)
    assert list(out.columns) == ["Email", APPROVED] and out[APPROVED].tolist() == ["TRUE"]
    assert list(plain.columns) == ["Email"]


def test_apply_approval_edits_numeric_column_falls_back_to_text() -> None:
    df = pd.DataFrame({"Approved": [1, 0]})
    assert apply_approval_edits(df, {1: {"Approved": True}}, "Approved")["Approved"].tolist() == [1, "TRUE"]


@pytest.mark.parametrize("value,expected", [(True, "TRUE"), (False, "FALSE")])
def test_set_all_approved(value: bool, expected: str) -> None:
    df = _frame([("Al", "Bo", "a@x.com", "yes"), ("Cy", "Do", "c@x.com", "")])
    out = set_all_approved(df, "Approved", value)
    assert out["Approved"].tolist() == [expected, expected]
    assert df["Approved"].tolist() == ["yes", ""]


def test_ensure_columns_appends_missing_after_user_columns_in_order() -> None:
    df = pd.DataFrame({"Zeta": ["1"], "Gift status": ["Delivered"], "Alpha": ["2"]}, dtype="str")
    out = ensure_columns(df, [APPROVED, *RESULT_COLUMNS])
    expected_new = [APPROVED] + [c for c in RESULT_COLUMNS if c != "Gift status"]
    assert list(out.columns) == ["Zeta", "Gift status", "Alpha", *expected_new]
    assert out.loc[0, "Gift status"] == "Delivered"
    assert all(out.loc[0, c] == "" for c in expected_new)
    assert list(df.columns) == ["Zeta", "Gift status", "Alpha"]
    assert list(ensure_columns(out, RESULT_COLUMNS).columns) == list(out.columns)
