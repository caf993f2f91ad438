"""Bytes to text and back for CSV files, exactly: whatever encoding a file arrives in (UTF-8
with or without BOM, Windows-1252, UTF-16 or UTF-32 with or without BOM), `encode` gives
the same bytes back for the text `decode` made, so a write-back changes only the cells
Giftrun writes.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .errors import GiftrunError


class TextError(GiftrunError):
    """The bytes are not text Giftrun can read; `message` says what to do."""


UTF8_BOM = b"\xef\xbb\xbf"
_BOMS: tuple[tuple[bytes, str], ...] = (  # UTF-32 first: its little-endian BOM starts like UTF-16's
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (UTF8_BOM, "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)

# cp1252 for 0x80-0x9F, latin-1 (same code point) for the five bytes cp1252 leaves undefined.
_CP1252_FIX: dict[int, str] = {}
for _b in range(0x80, 0xA0):
    try:
        _CP1252_FIX[_b] = bytes([_b]).decode("cp1252")
    except UnicodeDecodeError:
        pass
_CP1252_BACK = {ord(ch): chr(b) for b, ch in _CP1252_FIX.items()}
_C1_TAKEN = {b for b in _CP1252_FIX}  # C1 code points cp1252 uses for other characters


@dataclass(frozen=True)
class TextCodec:
    """How a file's text is stored: `name` is a Python codec or "cp1252" (Windows-1252 with
    latin-1 for its five undefined bytes, as Excel round-trips them); `bom` is kept as found."""

    name: str
    bom: bytes = b""

    @property
    def label(self) -> str:
        """The encoding as the readers used to report it (ATTR_ENCODING)."""
        if self.name == "utf-8" and self.bom:
            return "utf-8-sig"
        return "utf-8" if self.name == "ascii" else self.name

    def decode(self, data: bytes) -> str:
        body = data[len(self.bom) :]
        if self.name == "cp1252":
            return body.decode("latin-1").translate(_CP1252_FIX)
        return body.decode(self.name)

    def encode(self, text: str) -> bytes:
        if self.name == "cp1252":
            return self.bom + text.translate(_CP1252_BACK).encode("latin-1")
        return self.bom + text.encode(self.name)

    def fit(self, value: str) -> str:
        """`value` with every character this encoding cannot hold replaced by '?', so new
        cells never make the file unwritable (or change how the rest of it reads). A plain
        ASCII file stays ASCII (accents dropped, dashes and quotes made plain): every
        program reads it alike, while UTF-8 added to it would show as "â€”" in Excel."""
        if self.name == "ascii":
            return _ascii(value)
        if self.name == "cp1252":
            return "".join(
                ch
                if ch.isascii()
                or ord(ch) in _CP1252_BACK
                or (0xA0 <= ord(ch) <= 0xFF)
                or (0x80 <= ord(ch) < 0xA0 and ord(ch) not in _C1_TAKEN)
                else "?"
                for ch in value
            )
        return value.encode(self.name, errors="replace").decode(self.name)

    def size(self, text: str) -> int:
        """Bytes `text` takes in this encoding (no BOM)."""
        if self.name == "cp1252":
            return len(text)
        if text.isascii():
            return len(text) * (4 if self.name.startswith("utf-32") else 2 if self.name.startswith("utf-16") else 1)
        return len(text.encode(self.name, errors="replace"))


_PLAIN = str.maketrans(
    {
        "\u2014": "-",
        "\u2013": "-",
        "\u2026": "...",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u00a0": " ",
    }
)


def _ascii(value: str) -> str:
    if value.isascii():
        return value
    plain = unicodedata.normalize("NFKD", value.translate(_PLAIN))
    return "".join(ch if ch.isascii() else ("" if unicodedata.combining(ch) else "?") for ch in plain)


def _not_csv(data: bytes, name: str, detail: str = "") -> TextError:
    base = "This does not look like a CSV file" + (f" ({detail})" if detail else "") + "."
    looks_excel = data[:4] == b"PK\x03\x04" or data[:4] == b"\xd0\xcf\x11\xe0"
    if looks_excel or name.lower().endswith((".xlsx", ".xls", ".xlsm")):
        return TextError(
            base + " It looks like an Excel workbook: in Excel choose File > Save As > CSV UTF-8, "
            "then upload that file."
        )
    return TextError(base)


def _unicode_without_bom(data: bytes) -> str | None:
    """UTF-16 or UTF-32 without a BOM, told by where the zero bytes of ASCII characters
    (delimiters, line ends, most letters in a CSV) fall; None when it is neither."""
    sample = data[: 1 << 14]
    sample = sample[: len(sample) - len(sample) % 4]
    if len(sample) < 4:
        return None
    quarters = len(sample) // 4
    zeros = [sample[k::4].count(0) / quarters for k in range(4)]
    high, low = 0.3, 0.02  # ASCII characters leave the high bytes zero; real text never zeroes the low ones
    for name, zero_at in (
        ("utf-32-le", (1, 2, 3)),
        ("utf-32-be", (0, 1, 2)),
        ("utf-16-le", (1, 3)),
        ("utf-16-be", (0, 2)),
    ):
        if all(zeros[k] >= (0.9 if name.startswith("utf-32") else high) for k in zero_at) and all(
            zeros[k] <= low for k in range(4) if k not in zero_at
        ):
            return name
    return None


_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def detect(data: bytes, name: str = "file") -> TextCodec:
    """The file's encoding: a BOM when there is one, UTF-16/32 by their zero bytes, UTF-8
    when every byte fits, else Windows-1252 (older Excel exports). A file that is mostly
    UTF-8 with a few bytes that are not is refused: reading it either way would garble
    names."""
    if data[:4] == b"PK\x03\x04" or data[:4] == b"\xd0\xcf\x11\xe0":
        raise _not_csv(data, name)
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return TextCodec(codec, bom)
    if b"\x00" in data:
        wide = _unicode_without_bom(data)
        if wide is not None:
            return TextCodec(wide)
    if data.isascii():
        return TextCodec("ascii")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = len(re.findall(rb"[\x80-\xff]", data)) - sum(len(m) for m in _UTF8_SEQUENCE.findall(data))
        good = len(_UTF8_SEQUENCE.findall(data))
        if good > bad:
            raise TextError(
                f"Line {_line_of(data, exc.start)} has characters that are not UTF-8, while the rest of the file "
                "is UTF-8, so names could come out garbled. Open the file in your spreadsheet program and save "
                "it again as CSV UTF-8."
            ) from None
        return TextCodec("cp1252")
    return TextCodec("utf-8")


def decode(data: bytes, name: str = "file") -> tuple[str, TextCodec]:
    codec = detect(data, name)
    try:
        text = codec.decode(data)
    except UnicodeDecodeError:
        raise _not_csv(
            data,
            name,
            f"it starts like {codec.name.upper().replace('-LE', '').replace('-BE', '')} text but is damaged further on",
        ) from None
    if _CONTROL.search(text):
        controls = len(_CONTROL.findall(text))
        if controls > max(16, len(text) // 1000):  # a binary file, not text with a stray control character
            raise _not_csv(data, name)
    return text, codec


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
