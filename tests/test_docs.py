"""The repository speaks of the product only: no sentence about how it was made (sessions, turns, issue
numbers) in any tracked text file, and no file name carrying a session tag; the README stays a user's page
(at most 200 lines, every linked document exists)."""
from __future__ import annotations

import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: how the project was made: a session, a turn, an issue number, a session-tagged run folder
HISTORY = re.compile(r"\bsessions?\b|\bissue\s*#?\s*\d+|\bturns?\s+\d+\b|_s\d+_r\d+", re.IGNORECASE)
TEXT_SUFFIXES = (".py", ".md", ".js", ".mjs", ".json", ".txt", ".sh", ".cfg", ".ini", ".toml", ".wat", ".html", ".css",
                 ".yml", ".yaml", "Makefile", "run")
SKIP = ("package-lock.json", "tests/test_docs.py")


def _tracked_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [p for p in out.splitlines() if p.endswith(TEXT_SUFFIXES) and not p.endswith(SKIP)
            and not p.startswith("tests/fixtures/")]


def test_no_history_in_the_repository():
    hits = []
    for path in _tracked_files():
        full = os.path.join(ROOT, path)
        if not os.path.isfile(full):
            continue
        if HISTORY.search(path):
            hits.append(f"{path}: file name")
        with open(full, encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                if HISTORY.search(line):
                    hits.append(f"{path}:{lineno}: {line.strip()[:100]}")
    assert not hits, "\n".join(hits)


def test_the_pattern_catches_what_it_should():
    made = ("ses" + "sion", "Ses" + "sion 7", "is" + "sue 6", "is" + "sue #12", "image_free" + "_s7_r1")
    for text in made:
        assert HISTORY.search(text), text
    for text in ("the sessile drop", "an issue tracker", "a turned copy", "turns the content"):
        assert not HISTORY.search(text), text


def test_readme_is_a_short_users_page():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    assert len(text.splitlines()) <= 200
    for link in re.findall(r"\]\(((?:docs|web)/[^)#]+)", text):
        assert os.path.exists(os.path.join(ROOT, link)), link
    assert "make test" in text  # the test command .ci/run calls
