"""`redhorn demo --if-missing` builds again over a demo of an older edition instead of serving it."""

from __future__ import annotations

from pathlib import Path

from redhorn.cli import main
from redhorn.tools.demo.build import DEMO_FILES, EDITION_FILE, demo_exists


def test_a_demo_without_this_editions_stamp_is_built_again(tmp_path: Path, monkeypatch) -> None:
    for name in DEMO_FILES:  # an older demo: every file there, no stamp
        (tmp_path / name).write_bytes(b"")
    assert not demo_exists(tmp_path)
    built: list[Path] = []

    def build(folder: Path, **_: object) -> float:
        built.append(folder)
        return 0.0

    monkeypatch.setattr("redhorn.tools.demo.build.build_demo", build)
    assert (
        main(["--settings", str(tmp_path / "appsettings.json"), "demo", "--folder", str(tmp_path), "--if-missing"]) == 0
    )
    assert built == [tmp_path]


def test_this_editions_demo_is_kept(tmp_path: Path, monkeypatch) -> None:
    for name in DEMO_FILES:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / EDITION_FILE).write_text("0\n")
    assert not demo_exists(tmp_path), "another edition"
    from redhorn.tools.demo import build

    (tmp_path / EDITION_FILE).write_text(build.DEMO_EDITION + "\n")
    assert demo_exists(tmp_path)
    monkeypatch.setattr(build, "build_demo", lambda folder, **_: (_ for _ in ()).throw(AssertionError("rebuilt")))
    assert (
        main(["--settings", str(tmp_path / "appsettings.json"), "demo", "--folder", str(tmp_path), "--if-missing"]) == 0
    )
