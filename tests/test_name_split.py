"""A list with one full-name column: found, split where the user chooses, undone, and the user's
own file never gets Giftrun's two name columns."""

from __future__ import annotations

import pandas as pd
import pytest

from lib import csvio
from lib.name_split import NameSplit, SplitAt, examples, split_name
from lib.sources import csv_bytes, prepare, suggested_split, with_name_split


@pytest.mark.parametrize(
    "name, at, expected",
    [
        ("Ana María López", SplitAt.LAST_SPACE, ("Ana María", "López")),
        ("Ana María López", SplitAt.FIRST_SPACE, ("Ana", "María López")),
        ("Ada Lovelace", SplitAt.LAST_SPACE, ("Ada", "Lovelace")),
        ("  Ada   Lovelace ", SplitAt.LAST_SPACE, ("Ada", "Lovelace")),
        ("López, Ana María", SplitAt.LAST_SPACE, ("Ana María", "López")),
        ("López, Ana María", SplitAt.FIRST_SPACE, ("Ana María", "López")),
        ("Cher", SplitAt.LAST_SPACE, ("Cher", "")),
        ("", SplitAt.LAST_SPACE, ("", "")),
    ],
)
def test_a_name_splits_where_the_user_chose(name, at, expected):
    assert split_name(name, at) == expected


@pytest.mark.parametrize(
    "columns, found",
    [
        (["Name", "Email"], "Name"),
        (["Full name", "Email", "Company"], "Full name"),
        (["Contact", "Work Email"], "Contact"),
        (["full_name", "email"], "full_name"),
        (["First Name", "Name", "Email"], None),  # has a first name column: nothing to split
        (["Last name", "Full name", "Email"], None),
        (["Company", "Email"], None),
    ],
)
def test_a_full_name_column_is_found_only_when_the_list_has_no_name_columns(columns, found):
    frame = pd.DataFrame([["x"] * len(columns)], columns=columns, dtype=str)
    split = suggested_split(frame)
    assert (split.column if split else None) == found


DATA = "Full name,Email,Notes\r\nAna María López,ana@x.example,vip\r\nCher,cher@x.example,\r\n".encode()


def loaded_list(split: NameSplit | None):
    document = csvio.read_csv(DATA, name="people.csv")
    return prepare(document.frame, list_key="list:n", name="people.csv", document=document, split=split)


def test_the_split_is_used_as_the_names_shown_first_and_never_written_into_the_users_file():
    loaded = loaded_list(NameSplit("Full name"))
    first, last = NameSplit("Full name").columns
    assert (loaded.cmap.first_name, loaded.cmap.last_name) == (first, last)
    assert list(loaded.frame[first]) == ["Ana María", "Cher"] and list(loaded.frame[last]) == ["López", ""]
    assert loaded.user_columns[:3] == ("Full name", first, last)
    assert examples(loaded.frame, NameSplit("Full name")) == [
        "Ana María López → Ana María / López",
        "Cher → Cher / (none)",
    ]
    assert csv_bytes(loaded, loaded.frame, []) == DATA  # the user's own file, byte for byte


def test_the_split_can_be_changed_and_undone_keeping_every_other_cell():
    loaded = loaded_list(NameSplit("Full name"))
    loaded.frame.loc["0", "Notes"] = "edited"
    other = with_name_split(loaded, NameSplit("Full name", SplitAt.FIRST_SPACE))
    first, last = NameSplit("Full name").columns
    assert list(other.frame[first]) == ["Ana", "Cher"] and list(other.frame[last]) == ["María López", ""]
    assert other.frame.loc["0", "Notes"] == "edited"
    undone = with_name_split(other, None)
    assert first not in undone.frame.columns and first not in undone.user_columns
    assert (undone.cmap.first_name, undone.cmap.last_name) == (None, None)
    assert undone.cmap.email == "Email"
