"""The layout the README draws is the tree, and every folder of the package has its place in the layers."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "redhorn"


def _layout_block() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Layout\n", 1)[1]
    return section.split("```", 2)[1]


def _listed_paths() -> list[str]:
    return [match.group(1) for match in re.finditer(r"^(\S+)\s", _layout_block(), re.MULTILINE)]


def _top_level() -> set[str]:
    modules = {f"redhorn/{path.name}" for path in PACKAGE.glob("*.py") if path.name != "__main__.py"}
    folders = {f"redhorn/{path.name}/" for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}
    return modules | folders


def test_every_path_the_readme_lists_exists():
    missing = [path for path in _listed_paths() if not (REPO / path).exists()]
    assert not missing, f"README's layout names paths that do not exist: {missing}"


def test_the_readme_lists_every_module_and_folder_at_the_top_of_the_package():
    unlisted = sorted(_top_level() - set(_listed_paths()))
    assert not unlisted, f"README's layout leaves out: {unlisted}"


def test_the_top_level_of_the_package_holds_only_what_every_layer_shares():
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    assert modules == {
        "__init__",
        "__main__",
        "application",
        "cli",
        "encoding",
        "errors",
        "metadata",
        "settings",
        "state",
    }


def test_every_folder_of_the_package_is_placed_in_the_layer_contract():
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    placed = {name.strip() for layer in layers for name in layer.split("|")}
    tools = next(c for c in contracts if c.get("forbidden_modules") == ["redhorn.tools"])
    folders = {f"redhorn.{path.name}" for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}
    assert folders - placed == {"redhorn.tools"}, "a new folder needs its place among the layers"
    assert set(tools["source_modules"]) >= placed - {"redhorn.cli"}, "the runtime may not import the tools"
