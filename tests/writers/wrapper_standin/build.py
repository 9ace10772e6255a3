"""Compiling the stand-in of Visma's wrapper assemblies with Mono's `mcs`, into a folder of the test's."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

SOURCES = Path(__file__).parent
# Each assembly: its sources, and the assemblies it references.
ASSEMBLIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Visma.BusinessModel": (("BusinessModel.cs",), ()),
    "Visma.BusinessServices.Generic": (("Generic.cs",), ("System.ServiceModel",)),
    "Visma.BusinessServices.Client": (("Client.cs",), ("System.ServiceModel",)),
    "Visma.BusinessServices.Wrapper": (
        ("Wrapper.cs", "Recorder.cs"),
        ("System.ServiceModel", "System.Web.Extensions", "Visma.BusinessServices.Generic.dll"),
    ),
}


def require_mcs() -> str:
    """Mono's C# compiler; its absence skips on a developer's machine and fails in CI."""
    found = shutil.which("mcs")
    if found is None:
        message = "Mono's C# compiler mcs is not installed (Debian: mono-devel; make test installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def compile_standin(folder: Path, *, defines: Sequence[str] = (), leave_out: Sequence[str] = ()) -> Path:
    """The stand-in's four assemblies in `folder` (those named in `leave_out` not built)."""
    mcs = require_mcs()
    folder.mkdir(parents=True, exist_ok=True)
    for name, (sources, references) in ASSEMBLIES.items():
        if name in leave_out:
            continue
        args = [mcs, "-nologo", "-target:library", f"-out:{folder / (name + '.dll')}"]
        args += [f"-r:{folder / r}" if r.endswith(".dll") else f"-r:{r}" for r in references]
        args += [f"-define:{d}" for d in defines]
        args += [str(SOURCES / source) for source in sources]
        built = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
        assert built.returncode == 0, f"mcs failed on {name}:\n{built.stdout}{built.stderr}"
    return folder
