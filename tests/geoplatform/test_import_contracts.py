"""Every project app sits in the import-linter contracts (a new app must not go unchecked)."""

from __future__ import annotations

import configparser
from pathlib import Path

from django.apps import apps
from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def _project_apps() -> set[str]:
    """Top-level packages of the INSTALLED_APPS that live in this repository."""
    out = set()
    for config in apps.get_app_configs():
        path = Path(config.path).resolve()
        if path.is_relative_to(ROOT) and ".venv" not in path.parts:
            out.add(config.name.split(".")[0])
    return out


def _contracts(text: str) -> tuple[set[str], set[str]]:
    """(root packages, packages named in some layer of some contract) of an .importlinter."""
    ini = configparser.ConfigParser()
    ini.read_string(text)
    roots = set(ini["importlinter"]["root_packages"].split())
    layered: set[str] = set()
    for section in ini.sections():
        if section.startswith("importlinter:contract:"):
            for field in ("layers", "containers", "source_modules", "forbidden_modules", "modules"):
                for line in ini[section].get(field, "").splitlines():
                    layered |= {name.strip("() ").split(".")[0] for name in line.split("|") if name.strip("() ")}
    return roots, layered


def _unchecked(project: set[str], text: str) -> list[str]:
    roots, layered = _contracts(text)
    return sorted((project - roots) | (project - layered))


def test_every_project_app_is_in_the_import_contracts() -> None:
    project = _project_apps()
    assert {"geoplatform", "ingest", "catalog", "features", "rasters", "publishing"} <= project
    unchecked = _unchecked(project, (ROOT / ".importlinter").read_text())
    assert not unchecked, f"add these apps to root_packages and a layer of .importlinter: {unchecked}"


def test_the_guard_sees_an_app_without_a_layer() -> None:
    text = (ROOT / ".importlinter").read_text()
    # "features | rasters" is two apps on one layer; dropping one leaves it unchecked
    assert _unchecked({"features", "rasters", "newapp"}, text.replace("| rasters", "")) == ["newapp", "rasters"]
