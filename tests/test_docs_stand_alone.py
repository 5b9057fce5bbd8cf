"""The repository's documents stand alone: every file they link or name exists in the
repository, and none cites the project's private design notes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted(
    [ROOT / "README.md", ROOT / "CHANGELOG.md", *ROOT.glob("docs/*.md"), *ROOT.glob("*/README.md")]
)
LINK = re.compile(r"\]\((?!https?://|#|mailto:)([^)#\s]+)")
NAMED_FILE = re.compile(r"`((?:[\w.-]+/)*[\w.-]+\.(?:md|py|json|png|yml|toml|sh|ini))`")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_linked_file_exists(document: Path) -> None:
    for target in LINK.findall(document.read_text()):
        assert (document.parent / target).exists(), f"{document.name} links {target}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_design_notes_outside_the_repository_are_cited(document: Path) -> None:
    text = document.read_text()
    assert "DESIGN.md" not in text
    for name in NAMED_FILE.findall(text):
        if "/" in name:  # a path from the repository root, or from the document's folder
            assert (ROOT / name).exists() or (document.parent / name).exists(), name
