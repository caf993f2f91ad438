"""Sheet references and links: the one rule for what counts as a Google Sheet (a link to it or
its bare key), read by the CLI, the app and the parser alike, and the one way a tab's link is
written."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import SheetsError


@dataclass(frozen=True)
class SheetRef:
    key: str
    gid: int | None = None

    @property
    def url(self) -> str:
        """The link that opens this spreadsheet (on this tab when `gid` is set)."""
        base = f"https://docs.google.com/spreadsheets/d/{self.key}/edit"
        return base + (f"#gid={self.gid}" if self.gid is not None else "")


# A link: Google's spreadsheet pages (…/spreadsheets/d/KEY, the older …/spreadsheet/ccc?key=KEY,
# a Workspace domain's …/a/DOMAIN/spreadsheets/…), with or without https://.
_SHEET_LINK = re.compile(r"docs\.google\.com/(?:a/[^/?#\s]+/)?spreadsheets?/", re.IGNORECASE)
_KEY_IN_URL = re.compile(r"/spreadsheets/(?:u/\d+/)?d/([A-Za-z0-9_-]+)")
_OLD_KEY = re.compile(r"[?&]key=([A-Za-z0-9_-]+)")
_GID = re.compile(r"[#?&]gid=(\d+)")
# A bare key: Google's are 44 characters today; older ones are shorter, none under 25.
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]{25,}")
MAX_SHEET_LINK = 2048
NOT_A_SHEET = (
    "That doesn't look like a Google Sheet link. Paste the address from the browser while "
    "the sheet is open (https://docs.google.com/spreadsheets/d/…/edit)."
)


def looks_like_sheet(text: str) -> bool:
    """True when `text` is meant as a Google Sheet: a docs.google.com spreadsheet link, or a
    bare key (25 or more letters, digits, '-' and '_'; no '.' or '/', so no file path).

    `parse_sheet_ref` makes the same decision first, so for such text it either returns the
    sheet or says what is wrong with that link (a 'Publish to web' link, a missing key), and
    for any other text it says it is not a sheet link. The rule is on the text alone: a
    caller that also takes file paths (the CLI's SOURCE) looks for a file first, and an
    existing file by that name wins (a user who types a name in their folder means that
    file; a sheet can always be given by its full link)."""
    raw = (text or "").strip()
    return bool(_SHEET_LINK.search(raw) or _BARE_KEY.fullmatch(raw))


def parse_sheet_ref(text: str) -> SheetRef:
    """A sheet link (…/spreadsheets/d/KEY/edit#gid=123 or ?gid=) or a bare key."""
    raw = (text or "").strip()
    if len(raw) > MAX_SHEET_LINK:  # no real link is this long (and a 5,000-digit gid is no int)
        raise SheetsError(
            f"That link is {len(raw):,} characters long; a Google Sheet link is at most "
            f"{MAX_SHEET_LINK:,}. {NOT_A_SHEET}"
        )
    if _SHEET_LINK.search(raw):
        if "/spreadsheets/d/e/" in raw:
            raise SheetsError(
                "That is a 'Publish to web' link, which can't be edited. Paste the address "
                "from the browser while the sheet is open for editing."
            )
        m = _KEY_IN_URL.search(raw) or _OLD_KEY.search(raw)
        if not m:
            raise SheetsError(NOT_A_SHEET)
        g = _GID.search(raw)
        return SheetRef(m.group(1), int(g.group(1)) if g else None)
    if _BARE_KEY.fullmatch(raw):
        return SheetRef(raw)
    raise SheetsError(NOT_A_SHEET)


def is_sheet_ref(text: str) -> bool:
    """True when `text` opens as a sheet as it is (a usable link or key); see looks_like_sheet
    for whether it was meant as one."""
    try:
        parse_sheet_ref(text)
    except SheetsError:
        return False
    return True
