"""Each step of a write-back flush (lib/sheets/flush.py) on its own, over plain values: what it
promises, whatever the others do. The whole flush through real gspread is in test_sheets.py."""

from __future__ import annotations

import pytest

from lib.sheets import NoHeaderRowError, SheetList, SheetsError, make_client
from lib.sheets.flush import (
    Columns,
    Layout,
    WriteMemory,
    allocate_columns,
    changed_cells,
    place_results,
    read_layout,
    remember,
    repair_cells,
    result_cells,
)
from lib.writeback import GIFT_REQUEST_ID, RESULT_COLUMNS, SEND_ERROR, RowResult

HEADER = ["First Name", "Last Name", "Email", "Notes"]
ANA = ["Ana", "Lopez", "ana@x.com", ""]
BO = ["Bo", "Kim", "bo@x.com", "vip"]
CY = ["Cy", "Ng", "cy@x.com", ""]
GID = 4  # where Gift request ID lands when added after HEADER


def layout(*rows: list[str], header: list[str] = HEADER) -> Layout:
    return read_layout([list(header), *[list(r) for r in rows]], "Email", "First Name", "Last Name", tab="People")


def result(key: str, email: str, **values: str) -> RowResult:
    return RowResult(key, email, {GIFT_REQUEST_ID if k == "gid" else SEND_ERROR: v for k, v in values.items()})


# -- 1. read the layout ------------------------------------------------------------------------
def test_layout_finds_each_person_where_they_are_now_whatever_the_blank_rows_between():
    lay = layout(BO, ["", "", "", ""], ANA, ["Ana", "Lopez", "ANA@X.com", ""])
    assert lay.row_of == {"bo@x.com#1": 1, "ana@x.com#1": 3, "ana@x.com#2": 4}
    assert lay.key_of == {1: "bo@x.com#1", 3: "ana@x.com#1", 4: "ana@x.com#2"}
    assert lay.data_rows == [1, 3, 4]
    assert lay.rows_by_email == {"bo@x.com": [1], "ana@x.com": [3, 4]}


def test_layout_keys_rows_without_email_by_name():
    lay = layout(["Ana", "Lopez", "", ""], ["", "", "", "only a note"])
    assert lay.row_of == {"#name:ana|lopez#1": 1, "#blank#1": 2}


def test_layout_matches_result_columns_loosely_and_prefers_our_exact_header():
    lay = layout(ANA, header=[*HEADER, "gift_request_id", "Gift request ID"])
    assert lay.columns["giftrequestid"] == 5  # the exact header is ours; the loose one is the user's
    assert layout(ANA, header=[*HEADER, "gift_request_id"]).columns["giftrequestid"] == 4


@pytest.mark.parametrize("values", [[], [["", " "]], [[], ANA]])
def test_layout_refuses_a_tab_whose_header_row_is_gone(values):
    with pytest.raises(NoHeaderRowError, match="header row of the tab 'People' is gone"):
        read_layout(values, "Email", tab="People")


def test_layout_refuses_a_tab_whose_identity_column_is_gone():
    with pytest.raises(SheetsError, match="The column 'Email' is no longer in the tab 'People'"):
        read_layout([["First Name", "Mail address"], ["Ana", "ana@x.com"]], "Email", tab="People")


def test_cells_outside_a_ragged_row_read_as_empty():
    lay = layout(["Ana", "Lopez", "ana@x.com"])
    assert lay.cell(1, 3) == "" and lay.cell(9, 0) == "" and lay.cell(1, 2) == "ana@x.com"
    assert layout(ANA).last_used_column() == 3  # the header counts
    assert layout(ANA, [*BO, " ", "", "x"]).last_used_column() == 6 and layout(ANA, [*BO, " "]).last_used_column() == 3


# -- 2. place results --------------------------------------------------------------------------
def test_a_result_goes_to_its_persons_row_now():
    lay = layout(CY, BO, ANA)  # sorted since the results were made
    p = place_results([result("ana@x.com#1", "ana@x.com", gid="G1"), result("bo@x.com#1", "bo@x.com", gid="G2")], lay)
    assert [(i, r.row_key) for i, r in p.placed] == [(3, "ana@x.com#1"), (2, "bo@x.com#1")] and p.unplaced == {}


def test_a_result_whose_key_is_gone_falls_back_to_the_only_row_with_its_email():
    lay = layout(["Anna", "Lopez", "ana@x.com", ""])  # the name was edited: the key changed
    p = place_results([result("#name:ana|lopez#1", "ANA@x.com", gid="G1")], lay)
    assert [i for i, _r in p.placed] == [1] and p.unplaced == {}


@pytest.mark.parametrize(
    "rows, results",
    [
        ([ANA, ANA], [result("ana@x.com#3", "ana@x.com", gid="G1")]),  # two rows have the email: never a guess
        ([BO], [result("ana@x.com#1", "ana@x.com", gid="G1")]),  # the person's row was deleted
        ([ANA], [result("#name:ana|lopez#2", "", gid="G1")]),  # no email to fall back on
    ],
)
def test_a_result_with_no_certain_row_is_kept_unplaced(rows, results):
    p = place_results(results, layout(*rows))
    assert p.placed == [] and list(p.unplaced) == [r.row_key for r in results]


def test_the_email_fallback_never_takes_a_row_another_result_owns():
    lay = layout(ANA)
    ours = result("ana@x.com#1", "ana@x.com", gid="G1")
    stray = result("#name:ann|lopez#1", "ana@x.com", gid="G9")  # a different row that had the same email
    p = place_results([stray, ours], lay)
    assert [(i, r.row_key) for i, r in p.placed] == [(1, "ana@x.com#1")] and list(p.unplaced) == ["#name:ann|lopez#1"]


# -- 3. allocate columns -----------------------------------------------------------------------
def test_missing_result_columns_go_after_the_last_used_column_in_the_contracts_order():
    lay = layout(ANA, ["Bo", "Kim", "bo@x.com", "", "", "stray note"])  # a value under no header, column F
    placed = [(1, result("ana@x.com#1", "ana@x.com", gid="G1"))]
    cols = allocate_columns(placed, {}, lay)
    assert cols.added == list(RESULT_COLUMNS)
    assert [cols.at[n.lower().replace(" ", "")] for n in RESULT_COLUMNS] == list(range(6, 6 + len(RESULT_COLUMNS)))


def test_existing_result_columns_are_used_where_they_are_and_nothing_is_added():
    lay = layout(ANA, header=["Send error", *HEADER, "gift request id"])
    cols = allocate_columns([(1, result("ana@x.com#1", "ana@x.com", gid="G1", err=""))], {}, lay)
    assert cols.added == [] and cols.at == {"giftrequestid": 5, "senderror": 0}


def test_a_result_naming_a_column_loosely_adds_it_once():
    placed = [(1, RowResult("ana@x.com#1", "ana@x.com", {"gift_request_id": "G1"}))]
    cols = allocate_columns(placed, {}, layout(ANA))
    assert cols.added == list(RESULT_COLUMNS)


def test_without_new_results_no_column_is_added_but_remembered_ones_are_checked():
    cols = allocate_columns([], {"giftrequestid": GIFT_REQUEST_ID}, layout(ANA, header=[*HEADER, GIFT_REQUEST_ID]))
    assert cols.added == [] and cols.at == {"giftrequestid": 4}
    assert allocate_columns([], {"giftrequestid": GIFT_REQUEST_ID}, layout(ANA)).at == {}  # the column was deleted


# -- 4. repair moved writes --------------------------------------------------------------------
HEADER_G = [*HEADER, GIFT_REQUEST_ID]
WROTE_ANA = WriteMemory(
    written={"ana@x.com#1": {"giftrequestid": "G1"}},
    before={"ana@x.com#1": {"giftrequestid": ""}, "bo@x.com#1": {"giftrequestid": ""}},
    names={"giftrequestid": GIFT_REQUEST_ID},
)


def _repair(*rows: list[str], memory: WriteMemory = WROTE_ANA) -> dict[tuple[int, int], str]:
    lay = layout(*rows, header=HEADER_G)
    return repair_cells(memory, lay, allocate_columns([], memory.names, lay))


def test_a_write_that_landed_on_a_neighbour_is_moved_to_its_persons_row_and_the_neighbour_restored():
    # Bo's row was inserted above Ana between the read and the write: G1 landed on Bo's row
    assert _repair([*BO, "G1"], [*ANA, ""]) == {(2, GID): "G1", (1, GID): ""}


def test_a_write_that_is_where_it_belongs_needs_no_repair():
    assert _repair([*ANA, "G1"], [*BO, ""]) == {}


def test_a_newer_value_someone_else_wrote_is_left_alone():
    assert _repair([*ANA, "G7-typed-by-a-person"], [*BO, ""]) == {}


def test_nothing_is_repaired_for_a_deleted_row_or_a_deleted_column():
    assert _repair([*BO, ""]) == {}
    lay = layout(ANA, BO)
    assert repair_cells(WROTE_ANA, lay, allocate_columns([], WROTE_ANA.names, lay)) == {}


def test_no_memory_no_repair():
    assert _repair([*BO, "G1"], [*ANA, ""], memory=WriteMemory()) == {}


# -- 5. the cells to write, and what is remembered ---------------------------------------------
def test_result_cells_are_text_and_added_headers_go_in_row_0():
    cols = Columns(at={"giftrequestid": 4, "senderror": 5}, names={}, added=[GIFT_REQUEST_ID, SEND_ERROR])
    placed = [(2, RowResult("k", "e", {GIFT_REQUEST_ID: "00123", SEND_ERROR: None}))]  # type: ignore[dict-item]
    assert result_cells(placed, cols) == {(2, 4): "00123", (2, 5): "", (0, 4): GIFT_REQUEST_ID, (0, 5): SEND_ERROR}


def test_only_cells_that_differ_from_the_tab_are_written():
    lay = layout([*ANA, "G1"], header=HEADER_G)
    assert changed_cells({(1, 4): "G1", (1, 3): "", (1, 0): "Anna", (5, 9): "new"}, lay) == {
        (1, 0): "Anna",
        (5, 9): "new",
    }


def test_remember_keeps_what_was_written_by_key_and_what_every_row_held_before():
    lay = layout([*ANA, ""], [*BO, "old"], header=HEADER_G)
    cols = Columns(at={"giftrequestid": 4}, names={"giftrequestid": GIFT_REQUEST_ID})
    memory = remember({(0, 4): GIFT_REQUEST_ID, (1, 4): "G1", (1, 0): "not a result column"}, lay, cols)
    assert memory.written == {"ana@x.com#1": {"giftrequestid": "G1"}}
    assert memory.before == {"ana@x.com#1": {"giftrequestid": ""}, "bo@x.com#1": {"giftrequestid": "old"}}
    assert memory.names == {"giftrequestid": GIFT_REQUEST_ID}
    assert remember({}, lay, cols) == WriteMemory(before={"ana@x.com#1": {}, "bo@x.com#1": {}})


def test_the_steps_in_a_row_repair_a_concurrent_insert_on_the_next_flush():
    """Flush 1 writes Ana's id; a row is inserted above hers before the write lands (so it
    lands on Bo); flush 2, with no new result, puts both rows right."""
    lay1 = layout(ANA, BO)
    p = place_results([result("ana@x.com#1", "ana@x.com", gid="G1")], lay1)
    cols = allocate_columns(p.placed, {}, lay1)
    changes = changed_cells(result_cells(p.placed, cols), lay1)
    memory = remember(changes, lay1, cols)
    header = lay1.values[0] + list(RESULT_COLUMNS)
    shifted = [[*BO] + ["G1"], [*ANA] + [""]]  # G1 was written to row 1, now Bo's
    lay2 = read_layout([header, *shifted], "Email", "First Name", "Last Name", tab="People")
    cols2 = allocate_columns([], memory.names, lay2)
    assert changed_cells(repair_cells(memory, lay2, cols2), lay2) == {(2, GID): "G1", (1, GID): ""}


# -- the fix the split found: a loosely named result column is added once, through the sink ----
def test_a_result_named_loosely_adds_one_column_to_the_sheet(fake):
    key = "1StepsSheetAbCdEfGhIjKlMnOpQrStUvWxYz0123"
    fake.create_spreadsheet(key, {"People": [HEADER, ANA]})
    sheet = SheetList.open(make_client(None, emulator_host=fake.host, timeout=10), key)
    sheet.read()
    sheet.sink("Email", "First Name", "Last Name").write(
        [RowResult("ana@x.com#1", "ana@x.com", {"gift_request_id": "G1"})]
    )
    header = fake.rows(key, "People")[0]
    assert header == HEADER + list(RESULT_COLUMNS)
    assert fake.table(key, "People")[0][GIFT_REQUEST_ID] == "G1"
