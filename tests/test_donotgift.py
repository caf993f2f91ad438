"""The do-not-gift rules, pure: what an entry is, what it blocks (one person in any spelling; a
domain with every subdomain of it, never a lookalike domain), how a CSV of entries is read, and
what an edit of the Settings table means."""

from __future__ import annotations

import pytest

from lib import donotgift
from lib.donotgift import DoNotGiftError, Entry, blocking_keys, canonical, match, parse_csv, table_changes


@pytest.mark.parametrize(
    "typed, key",
    [
        ("ana@example.com", "ana@example.com"),
        ("  ANA@Example.COM ", "ana@example.com"),
        ("ana@example.com.", "ana@example.com"),
        ("ana@bücher.example", "ana@xn--bcher-kva.example"),
        ("ANA@XN--BCHER-KVA.example", "ana@xn--bcher-kva.example"),
        ("@rival.example", "@rival.example"),
        ("@Rival.Example.", "@rival.example"),
        ("rival.example", "@rival.example"),
        ("*@rival.example", "@rival.example"),
        ("@bücher.example", "@xn--bcher-kva.example"),
        ("@xn--bcher-kva.example", "@xn--bcher-kva.example"),
    ],
)
def test_an_entry_has_one_canonical_form(typed, key):
    assert canonical(typed) == key


@pytest.mark.parametrize(
    "typed, words",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("@com", "top-level domain"),
        ("com", "top-level domain"),
        ("not an email@", "not a valid email address"),
        ("ana@", "not a valid email address"),
        ("ana@@example.com", "not a valid email address"),
        ("@rival .example", "neither an email address nor a domain"),
        ("@-rival.example", "neither an email address nor a domain"),
        ("@rival_co.example", "neither an email address nor a domain"),
        ("ana\x1b@example.com", "control character"),
        ("@rival.example\n", None),  # a trailing line break is whitespace around the value: stripped
        ("a" * 400 + "@example.com", "characters long"),
    ],
)
def test_a_value_that_cannot_be_an_entry_says_why(typed, words):
    if words is None:
        assert canonical(typed) == "@rival.example"
        return
    with pytest.raises(DoNotGiftError, match=words):
        canonical(typed)


def test_a_reason_with_a_control_character_or_too_long_is_refused():
    with pytest.raises(DoNotGiftError, match="line break"):
        donotgift.new_entry("@rival.example", "first line\nsecond")
    with pytest.raises(DoNotGiftError, match="at most 500"):
        donotgift.new_entry("@rival.example", "x" * 501)


ENTRIES = donotgift.index(
    [
        Entry("@rival.example", "competitor"),
        Entry("vip0@example.com", "board member"),
        Entry("@xn--bcher-kva.example", "idn"),
    ]
)


@pytest.mark.parametrize(
    "email, blocked_by",
    [
        ("ana@rival.example", "@rival.example"),
        ("ANA@RIVAL.EXAMPLE", "@rival.example"),
        ("ana@rival.example.", "@rival.example"),
        ("bo@eu.rival.example", "@rival.example"),  # a subdomain is the same company
        ("cy@mail.eu.rival.example", "@rival.example"),
        ("vip0@example.com", "vip0@example.com"),
        (" VIP0@Example.com ", "vip0@example.com"),
        ("vip1@example.com", None),  # the person, not the domain
        ("cy@notrival.example", None),  # ends the same way, a different domain
        ("cy@rival.example.org", None),
        ("rival.example@other.example", None),  # the local part is not a domain
        ("ana@bücher.example", "@xn--bcher-kva.example"),  # an international domain in either form
        ("ana@XN--BCHER-KVA.example", "@xn--bcher-kva.example"),
        ("ana@eu.bücher.example", "@xn--bcher-kva.example"),
        ("", None),
        ("no-at-sign", None),
    ],
)
def test_what_an_entry_blocks(email, blocked_by):
    hit = match(email, ENTRIES)
    assert (hit.value if hit else None) == blocked_by


def test_a_person_entry_wins_over_a_domain_entry_for_the_reason():
    entries = donotgift.index([Entry("@example.com", "domain"), Entry("vip0@example.com", "person")])
    assert match("vip0@example.com", entries).reason == "person"
    assert blocking_keys("a@b.c.example") == ("a@b.c.example", "@b.c.example", "@c.example", "@example")


def test_the_skip_reason_names_the_entry_why_who_and_when():
    e = Entry("@rival.example", "competitor", "maria@team", "2026-11-20T10:00:00.000Z", "@Rival.example")
    assert e.skip_reason() == "On the do-not-gift list: @rival.example (competitor) — added by maria@team on 2026-11-20"
    idn = Entry("@xn--bcher-kva.example", "", "cli", "2026-11-20T10:00:00.000Z", "@bücher.example")
    assert idn.skip_reason() == (
        "On the do-not-gift list: @xn--bcher-kva.example (@bücher.example) — added by cli on 2026-11-20"
    )


# -- a CSV of entries ---------------------------------------------------------------------------------
def test_a_csv_with_a_header_and_several_value_columns():
    data = (
        b"Company,Email,Domain,Why\n"
        b"Rival,,@rival.example,competitor\n"
        b"Customer,ceo@customer.example,,customer\n"
        b"Both,cfo@x.example,@y.example,two at once\n"
        b"Rival again,,RIVAL.example,dup\n"
        b"empty,,,\n"
    )
    parsed = parse_csv(data, "list.csv")
    assert parsed.problems == []
    assert [(e.value, e.reason) for e in parsed.entries] == [
        ("@rival.example", "competitor"),
        ("ceo@customer.example", "customer"),
        ("cfo@x.example", "two at once"),
        ("@y.example", "two at once"),
    ]


def test_a_protected_first_cell_is_read_as_its_value():
    parsed = parse_csv(b"'@formula.example,first\n'=x@example.com,second\n")
    assert [(e.value, e.reason) for e in parsed.entries] == [
        ("@formula.example", "first"),
        ("=x@example.com", "second"),
    ]


def test_a_csv_without_a_header_is_value_then_reason():
    parsed = parse_csv(b"@rival.example,competitor\nvip0@example.com\n'@formula.example,neutralised\n")
    assert [(e.value, e.reason) for e in parsed.entries] == [
        ("@rival.example", "competitor"),
        ("vip0@example.com", ""),
        ("@formula.example", "neutralised"),
    ]


def test_a_csv_with_bad_rows_lists_each_with_its_row_number():
    parsed = parse_csv(b"Email,Reason\nok@example.com,fine\nbad@,x\n@com,tld\nfine@example.com,ctrl\x1bchar\n")
    assert [e.value for e in parsed.entries] == ["ok@example.com"]
    assert [p.split(":")[0] for p in parsed.problems] == ["row 3", "row 4", "row 5"]
    assert "top-level domain" in parsed.problems[1] and "control character" in parsed.problems[2]


def test_a_csv_without_a_value_column_says_which_columns_it_has():
    with pytest.raises(DoNotGiftError, match="No column for the entries.*Name, Company"):
        parse_csv(b"Name,Company\nAna,Rival\n")
    with pytest.raises(DoNotGiftError, match="empty"):
        parse_csv(b"")


# -- the Settings table --------------------------------------------------------------------------------
TABLE = [
    Entry("@rival.example", "competitor", "a", "t", "@rival.example"),
    Entry("vip0@example.com", "board", "a", "t", "vip0@example.com"),
    Entry("@xn--bcher-kva.example", "idn", "a", "t", "@bücher.example"),
]


def test_table_edits_become_adds_removals_and_reason_changes():
    edits = {
        "deleted_rows": [1],
        "edited_rows": {0: {"Reason": "competitor (EU too)"}, 2: {"Value": "@buecher.example"}},
        "added_rows": [{"Value": "new@example.com", "Reason": "customer"}, {"Value": None, "Reason": None}],
    }
    changes = table_changes(TABLE, edits)
    assert changes.problems == []
    assert changes.remove == ["vip0@example.com", "@xn--bcher-kva.example"]
    assert [(e.value, e.reason) for e in changes.add] == [
        ("@rival.example", "competitor (EU too)"),
        ("@buecher.example", "idn"),
        ("new@example.com", "customer"),
    ]
    assert changes.describe() == "3 to add or update, 2 to remove"


def test_an_untouched_table_changes_nothing_and_a_bad_new_row_is_a_problem():
    assert not table_changes(
        TABLE, {"edited_rows": {0: {"Reason": "competitor"}}, "added_rows": [], "deleted_rows": []}
    )
    changes = table_changes(TABLE, {"added_rows": [{"Value": "@com"}]})
    assert changes.problems and changes.problems[0].startswith("new row 4: ") and "top-level" in changes.problems[0]


def test_the_review_check_of_a_whole_column_agrees_with_match_row_by_row():
    import pandas as pd

    from lib import eligibility as elig

    cases = [email for email, _ in test_what_an_entry_blocks.pytestmark[0].args[1]] * 3
    reasons = elig.do_not_gift(pd.Series(cases, index=[f"k{i}" for i in range(len(cases))], dtype="str"), ENTRIES)
    expected = [(hit.skip_reason() if (hit := match(email, ENTRIES)) else "") for email in cases]
    assert list(reasons.index) == [f"k{i}" for i in range(len(cases))]
    assert list(reasons) == expected and sum(bool(r) for r in expected) == 3 * 10
    people_only = donotgift.index([Entry("vip0@example.com", "board")])
    assert list(elig.do_not_gift(pd.Series(["VIP0@example.com", "x@example.com"]), people_only)) == [
        people_only["vip0@example.com"].skip_reason(),
        "",
    ]
    assert list(elig.do_not_gift(pd.Series(["a@b.example"]), {})) == [""]
