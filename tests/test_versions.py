"""The versions we declare are the versions we test: CI installs every floor of
pyproject.toml, pinned in .ci/oldest-constraints.txt, and runs the tests on them, so the
two files must name the same packages at the same versions."""

from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

tomllib = pytest.importorskip("tomllib", reason="tomllib is new in Python 3.11")

ROOT = Path(__file__).resolve().parent.parent


def requirements() -> list:
    """Every requirement of pyproject.toml: the dependencies and those of every extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"].values()
    return [Requirement(text) for text in project["dependencies"] + sum(extras, [])]


def declared_floors() -> dict:
    return {r.name: Version(spec.version) for r in requirements()
            for spec in r.specifier if spec.operator == ">="}


def pinned_versions() -> dict:
    pins = {}
    for line in (ROOT / ".ci" / "oldest-constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == "==", f"{line!r}: pin an exact version"
            pins[requirement.name] = Version(spec.version)
    return pins


def test_every_floor_is_pinned_for_the_oldest_run_and_nothing_else():
    floors = declared_floors()
    assert "numpy" in floors and "scikit-learn" in floors
    assert pinned_versions() == floors


def test_every_requirement_has_a_floor():
    for requirement in requirements():
        assert any(s.operator == ">=" for s in requirement.specifier), str(requirement)
