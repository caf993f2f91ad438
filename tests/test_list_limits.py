"""One size limit for a list, the same in the CLI and the app (issue 11, item 5): up to
MAX_LIST_BYTES of the user's own data (Giftrun's result columns don't count) and MAX_ROWS
people. A list Giftrun accepted and wrote back is always accepted again — the 20.9 MB list
whose 21.2 MB result was refused is the example. docs/deploy.md states the limit in bytes and rows.
"""

from __future__ import annotations

import random
import re
import tomllib

import pytest

from lib import csvio
from lib.plan import apply_results
from lib.sources import csv_bytes, prepare, results_in
from lib.writeback import RESULT_COLUMNS, RowResult
from tests.apptest_support import click, new_session, run, texts
from tests.support import REPO, cli_env, posts, run_cli

HEADER = "First Name,Last Name,Email,Approved,Notes"
LONGEST = {c: "x" * 5000 + " é 🎁" for c in RESULT_COLUMNS}  # more than any cell may take


def _list_of(own_bytes: int, codec: str, bom: bytes, rows: int = csvio.MAX_ROWS) -> bytes:
    """A list of exactly `own_bytes` in `codec`, with `rows` people, some of them on short
    rows (which a write-back pads out to reach their result cells)."""
    width = 2 if codec.startswith("utf-16") else 1
    rng = random.Random(5)
    short = [rng.random() < 0.1 for _ in range(rows)]
    lines = [f"First{i},Last{i},p{i}@example.com" + ("" if short[i] else ",yes,n") + "\r\n" for i in range(rows)]
    size = len(bom) + (len(HEADER) + 2 + sum(len(line) for line in lines)) * width
    pad, rest = divmod((own_bytes - size) // width, rows - sum(short))
    assert pad >= 0 and (own_bytes - size) % width == 0
    full = [i for i in range(rows) if not short[i]]
    for k, i in enumerate(full):
        lines[i] = lines[i][:-2] + "n" * (pad + (1 if k < rest else 0)) + "\r\n"
    data = bom + (HEADER + "\r\n" + "".join(lines)).encode(codec)
    assert len(data) == own_bytes
    return data


@pytest.mark.slow
@pytest.mark.parametrize("codec,bom", [("utf-8", b""), ("utf-16-le", b"\xff\xfe")], ids=["utf-8", "utf-16"])
def test_a_list_at_the_limit_is_accepted_again_after_the_longest_results(codec, bom):
    data = _list_of(csvio.MAX_LIST_BYTES, codec, bom)
    doc = csvio.read_csv(data)
    assert len(doc.frame) == csvio.MAX_ROWS
    loaded = prepare(doc.frame, list_key="k", name="big.csv", document=doc)
    frame = apply_results(loaded.frame, [RowResult(str(i), "", LONGEST) for i in range(len(loaded.frame))])
    after = csv_bytes(loaded, frame, results_in(frame))
    assert 3 * csvio.MAX_LIST_BYTES < len(after) < csvio.MAX_UPLOAD_BYTES, "not the largest a write-back makes"

    again = csvio.read_csv(after)  # accepted: the result columns don't count
    assert again.own_bytes() == doc.own_bytes() == csvio.MAX_LIST_BYTES
    user = list(doc.frame.columns)
    assert again.frame[user].values.tolist() == doc.frame[user].values.tolist()


@pytest.mark.slow
def test_one_byte_more_of_the_users_own_data_is_refused_with_the_limit_in_bytes():
    over = _list_of(csvio.MAX_LIST_BYTES + 1, "utf-8", b"", rows=1000)
    with pytest.raises(csvio.CsvError) as info:
        csvio.read_csv(over)
    assert str(info.value) == (
        "The file is 20,971,521 bytes; a list can hold up to 20,971,520 bytes (20 MB) of your "
        "own data. Split it into smaller files."
    )
    assert len(csvio.read_csv(_list_of(csvio.MAX_LIST_BYTES, "utf-8", b"", rows=1000)).frame) == 1000


@pytest.mark.slow
def test_the_20_9_mb_list_is_sent_and_its_21_2_mb_result_accepted_by_the_cli_and_the_app(
    make_sandbox, tmp_path, data_dir, server_state
):
    sb = make_sandbox()
    rows = ["First Name,Last Name,Email,Approved,Notes\n"]
    rows += [
        f"First{i},Last{i},person{i}@example.com,{'yes' if i < 30 else 'no'},{'n' * 998}\n"
        for i in range(csvio.MAX_ROWS)
    ]
    data = "".join(rows).encode()
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    assert 20_800_000 < len(data) < csvio.MAX_LIST_BYTES

    env = cli_env(tmp_path / "data", sb)
    args = ("send", "big.csv", "--campaign", sb.campaign_ids[0], "--rate", "50")
    first = run_cli(tmp_path, env, *args, timeout=300)
    assert first.returncode == 0, first.stderr
    assert len(posts(sb)) == 30
    result = path.read_bytes()
    assert len(result) > csvio.MAX_LIST_BYTES, "the result did not grow past the limit: the test proves nothing"

    second = run_cli(tmp_path, env, *args, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "0 to send" in second.stdout and "30 already sent" in second.stdout, second.stdout

    at = run(new_session(data_dir))  # the app reads the same file the same way
    at.file_uploader(key="giftrun_upload").set_value(("big-results.csv", result, "text/csv"))
    run(at)
    click(at, "use_upload")
    assert f"Loaded {csvio.MAX_ROWS} people from big-results.csv." in texts(at.success), texts(at.error)


def test_the_apps_uploader_and_every_message_state_one_limit():
    """The uploader, Streamlit's own refusal and the caption all say the list limit (issue 22:
    the uploader said 100 MB where lists stop at 20 MB). One constant in lib/ says it."""
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == csvio.UPLOAD_LIMIT_MB == csvio.MAX_LIST_BYTES // csvio.MIB
    build = (REPO / "views" / "build_list.py").read_text()
    assert "max_upload_size=csvio.UPLOAD_LIMIT_MB" in build and "csvio.UPLOAD_LIMITS_TEXT" in build


def test_the_deploy_guide_states_the_limit_in_bytes_and_rows():
    readme = (REPO / "docs" / "deploy.md").read_text()  # moved from the README
    assert f"{csvio.MAX_LIST_BYTES:,} bytes" in readme
    assert f"{csvio.MAX_ROWS:,} people" in readme
    assert f"{csvio.MAX_CELL_CHARS:,} characters" in readme
    assert not re.search(r"Uploads up to 20 MB and 20,000 rows", readme)
