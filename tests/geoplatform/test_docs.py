"""The docs point at things that exist, inside this repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The helpers' working notes point at the lead's shared folder on purpose; the docs do not.
DOCS = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").rglob("*.md") if p.name != "CONTRIBUTING-HELPERS.md")]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve_inside_the_repository(doc: Path) -> None:
    text = doc.read_text()
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        path = (doc.parent / target).resolve()
        assert path.is_relative_to(ROOT), f"{doc.name} links {target}, outside the repository"
        assert path.exists(), f"{doc.name} links {target}, which does not exist"
    assert "../shared/" not in text, f"{doc.name} cites a file outside the repository"


def test_the_code_cites_no_file_outside_the_repository() -> None:
    apps = ["geoplatform", "ingest", "catalog", "features", "rasters", "publishing"]
    for module in (p for app in apps for p in (ROOT / app).rglob("*.py")):
        assert "../shared/" not in module.read_text(), f"{module.relative_to(ROOT)} cites ../shared/"


def test_the_new_app_guide_names_files_that_exist() -> None:
    text = (ROOT / "docs" / "new-app.md").read_text()
    named = {m for m in re.findall(r"`([a-z_]+/[A-Za-z0-9_./-]+\.(?:py|md))`", text) if "climate" not in m}
    named |= set(re.findall(r"`(\.importlinter|\.env\.example)`", text))
    assert len(named) > 15
    missing = sorted(name for name in named if not (ROOT / name).exists())
    assert not missing, f"docs/new-app.md names files that do not exist: {missing}"
