"""The repository holds source, not builds: no package or archive is tracked, nothing tracked is
over 2 MB, and build artifacts are ignored. A clone stays small and quick for CI and for people."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_BYTES = 2 * 1024 * 1024
ARCHIVES = (".whl", ".tar.gz", ".tgz", ".zip", ".egg", ".tar", ".tar.bz2", ".tar.xz", ".7z", ".rar")


def _git(*args: str) -> subprocess.CompletedProcess:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def _tracked() -> list[str]:
    listed = _git("ls-files", "-z")
    if listed.returncode != 0:
        pytest.skip("not a git work tree")
    return [p for p in listed.stdout.split("\0") if p]


def unwanted(paths: list[str], size_of) -> list[str]:
    """Each tracked path that is a package or archive, or over MAX_BYTES, with why."""
    out = []
    for path in paths:
        if path.lower().endswith(ARCHIVES):
            out.append(f"{path}: a package or archive (install it from its registry instead)")
        elif (size := size_of(path)) > MAX_BYTES:
            out.append(f"{path}: {size:,} bytes, over {MAX_BYTES:,}")
    return out


@pytest.mark.parametrize(
    "path, size, bad",
    [
        ("ruff-0.17.6-py3-none-manylinux_2_17_x86_64.whl", 10_000, True),
        ("dist/giftrun-0.1.0.tar.gz", 10_000, True),
        ("docs/Export.ZIP", 10, True),
        ("docs/screenshots/review-send.png", 3 * 1024 * 1024, True),
        ("docs/screenshots/review-send.png", 240 * 1024, False),
        ("lib/csvio.py", 20_000, False),
    ],
)
def test_the_check_itself(path, size, bad):
    assert bool(unwanted([path], lambda _: size)) is bad


def test_no_tracked_file_is_a_package_an_archive_or_over_2_mb():
    def size_of(path: str) -> int:
        file = ROOT / path
        return file.stat().st_size if file.is_file() else 0  # a deletion not yet committed

    assert unwanted(_tracked(), size_of) == []


@pytest.mark.parametrize(
    "path", ["dist/giftrun-0.1.0.tar.gz", "build/lib/x.py", "giftrun.egg-info/PKG-INFO", "x-1.0-py3-none-any.whl"]
)
def test_build_artifacts_are_git_ignored(path):
    # --no-index: judge by the ignore rules even if such a file was (wrongly) committed already
    result = _git("check-ignore", "-q", "--no-index", path)
    assert result.returncode == 0, f"{path} is not ignored by .gitignore"
