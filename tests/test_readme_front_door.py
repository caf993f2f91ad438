"""The README is a front door: at most 8 KB, a contents list, the two commands first, and links
(to its own headings, to docs/, to the screenshots) that all resolve. The reference moved to docs/
is linked; settings are marked required or optional; the Community Cloud recipe names what a
first deployment trips over, and its JSON-to-TOML line really makes a service account Giftrun reads."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib

import pytest

from lib.settings import Settings
from tests.support import REPO

README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
MOVED = ["guarantees.md", "cli.md", "invitations.md", "deploy.md", "troubleshooting.md", "development.md"]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    return {slug(m) for m in re.findall(r"(?m)^#{1,6} (.+)$", text)}


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = re.search(r"(?m)^#{1,3} ", text[start + len(heading) :])
    return text[start : start + len(heading) + end.start()] if end else text[start:]


def test_the_readme_is_at_most_8_kb_and_opens_with_the_two_commands():
    data = README.read_bytes()
    assert len(data) <= 8 * 1024, f"README.md is {len(data):,} bytes"
    lines = data.decode().splitlines()
    assert lines[:2] == ["# Giftrun", ""] and lines[2] == "```bash"
    assert lines[3].startswith("pip install -r requirements.txt && streamlit run app.py ")
    assert lines[4].startswith("pip install -r requirements-dev.txt && python -m pytest ")


def test_the_readme_has_a_contents_list_that_links_its_sections_and_the_docs():
    text = README.read_text()
    contents = section(text, "## Contents")
    targets = LINK.findall(contents)
    assert len([t for t in targets if t.startswith("#")]) >= 3, contents
    assert {f"docs/{name}" for name in MOVED} <= set(targets), contents


@pytest.mark.parametrize("doc", [README, *DOCS], ids=lambda p: p.name)
def test_every_link_resolves(doc):
    text = doc.read_text()
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # https: and mailto: are not ours to check
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        assert file.is_file(), f"{doc.name}: {target} is not a file"
        if anchor and file.suffix == ".md":
            assert anchor in anchors(file.read_text()), f"{doc.name}: {target} names no heading"


def test_the_screenshots_stay_in_the_readme():
    text = README.read_text()
    shots = sorted(p.name for p in (REPO / "docs" / "screenshots").glob("*.png"))
    assert shots
    for shot in shots:
        assert f"](docs/screenshots/{shot})" in text, shot


@pytest.mark.parametrize(("doc", "heading"), [(README, "### Settings"), (REPO / "docs" / "deploy.md", "## Going live")])
def test_every_setting_is_marked_required_or_optional(doc, heading):
    rows = [line for line in section(doc.read_text(), heading).splitlines() if line.startswith("| `")]
    assert len(rows) >= 8
    for row in rows:
        needed = row.split(" | ")[1]
        assert re.search(r"\*\*required\*\*|optional", needed), row


def test_the_community_cloud_recipe_names_what_a_first_deployment_needs():
    recipe = section((REPO / "docs" / "deploy.md").read_text(), "### Deploy on Streamlit Community Cloud")
    words = " ".join(recipe.split())
    assert "Python version 3.11" in words
    assert "The service account's JSON as TOML" in words
    assert re.search(r"workflow needs two secrets.*`ANDOPEN_API_KEY` and `GIFTRUN_DATABASE_URL`", words)
    assert "a webhook receiver needs a host of its own" in words


def test_the_recipes_json_to_toml_line_makes_a_service_account_giftrun_reads(tmp_path):
    recipe = (REPO / "docs" / "deploy.md").read_text()
    [line] = [ln.strip() for ln in recipe.splitlines() if ln.strip().startswith("python -c ") and "toml" not in ln]
    code = re.fullmatch(r"python -c '(.+)' service-account\.json", line).group(1)
    account = {
        "type": "service_account",
        "project_id": "p-1",
        "private_key": '-----BEGIN PRIVATE KEY-----\nMIIE"x\\y\n-----END PRIVATE KEY-----\n',
        "client_email": "giftrun@p-1.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    (tmp_path / "service-account.json").write_text(json.dumps(account, indent=2))
    out = subprocess.run(
        [sys.executable, "-c", code, "service-account.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    secrets = tomllib.loads('ANDOPEN_CAMPAIGN_ID = "c"\n' + out)
    assert dict(Settings.from_mapping(secrets).service_account) == account
