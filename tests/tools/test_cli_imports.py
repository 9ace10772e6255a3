"""`redhorn serve` loads nothing from `redhorn.tools`: the demo builder and the reference services stay out of it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, sys
import redhorn.cli
from redhorn.application import create_app
from redhorn.settings import parse_settings

args = redhorn.cli.build_parser().parse_args(["serve", "--no-tls"])
assert args.handler is redhorn.cli.command_serve
create_app(parse_settings(sys.argv[1]))
print(json.dumps(sorted(name for name in sys.modules if name.startswith("redhorn"))))
"""


def test_serve_imports_no_tools(tmp_path: Path) -> None:
    settings = json.dumps({"VismaConnection": {"VismaDbConnectionString": f"Engine=sqlite;Data Source={tmp_path}"}})
    result = subprocess.run(
        [sys.executable, "-c", PROBE, settings], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert "redhorn.cli" in loaded and "redhorn.catalog.dictionary" in loaded
    assert [name for name in loaded if name.startswith("redhorn.tools")] == []
