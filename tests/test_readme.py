"""The README's curl examples, run as written against a live server (its port and a real token
put in), so that the first thing a new user copies works."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from redhorn.demo import build_demo
from tests.conftest import Server, settings_document, start_server

README = Path(__file__).parent.parent / "README.md"
pytestmark = pytest.mark.e2e
# The smallest demo whose customer numbers overlap the full demo's, which the examples name.
README_SCALE = 0.25


def curl_examples() -> list[str]:
    """Every `curl` command in the README's sh blocks that talks to the local server."""
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), re.DOTALL):
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("curl ") and "127.0.0.1:8443" in line:
                commands.append(line)
    return commands


def test_the_readme_has_curl_examples():
    assert len(curl_examples()) >= 3


@pytest.fixture(scope="module")
def readme_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own: the examples write, and their customers exist from this scale of the demo up."""
    folder = tmp_path_factory.mktemp("readme")
    build_demo(folder / "data", scale=README_SCALE)
    document = settings_document(folder / "data", Writes={"IdempotencyDatabase": str(folder / "writes.db")})
    with start_server(folder, document) as server:
        yield server


def test_every_readme_curl_example_works(readme_server: Server):
    server = readme_server
    port = server.base_url.rsplit(":", 1)[1]
    token = ""
    for command in curl_examples():
        command = command.replace("127.0.0.1:8443", f"127.0.0.1:{port}").replace("eyJ...", token)
        result = subprocess.run(
            ["bash", "-c", command + " --fail-with-body --silent --show-error"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, (shlex.split(command), result.stdout, result.stderr)
        body = json.loads(result.stdout)
        if "access_token" in body:
            token = body["access_token"]
        else:
            assert body["value"], command
    assert token, "the token example ran before the bearer example"
