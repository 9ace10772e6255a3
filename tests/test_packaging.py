"""The package as its users get it: locked dependencies, and a wheel that runs outside the repository.

The wheel is built from this tree with the locked setuptools, installed with the lock's runtime
dependencies into a fresh virtual environment in a folder of its own, and there it builds the
demo, makes a certificate and a licence, serves, and answers a page of orders over HTTPS.
"""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import DEMO_USER, free_port
from tests.processes import spawn, stop

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
LOCK = tomllib.loads((REPO / "uv.lock").read_text())


def locked_version(name: str) -> str:
    return next(str(package["version"]) for package in LOCK["package"] if package["name"] == name)


def uv(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run the locked uv (a test dependency), failing with its output."""
    environment = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    result = subprocess.run(
        [sys.executable, "-m", "uv", *args], cwd=cwd, capture_output=True, text=True, timeout=240, env=environment
    )
    assert result.returncode == 0, f"uv {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def test_every_package_of_the_source_tree_is_in_the_wheel():
    """pyproject.toml lists the packages (setuptools cannot find the mapped dictionary): none forgotten."""
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {
        ".".join(folder.relative_to(REPO).parts)
        for folder in (REPO / "redhorn").rglob("*")
        if folder.is_dir() and (folder / "__init__.py").is_file()
    } | {"redhorn"}
    assert listed == found | {"redhorn._dictionary"}


def test_the_makefile_bootstraps_the_uv_the_lock_holds():
    makefile = (REPO / "Makefile").read_text()
    match = re.search(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert match is not None
    assert match.group(1) == locked_version("uv")


def test_the_lock_agrees_with_pyproject():
    """What `make check` runs: a pyproject.toml changed without `make lock` fails here."""
    uv("lock", "--check", "--offline")


@pytest.mark.parametrize(
    ("platform", "absent"),
    [("x86_64-pc-windows-msvc", "uvloop"), ("x86_64-manylinux_2_28", None)],
    ids=["windows", "linux"],
)
def test_the_locked_runtime_installs_from_wheels_alone(tmp_path: Path, platform: str, absent: str | None):
    """Windows Server has no compiler: every locked runtime package must come as a wheel for it."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        uv(
            "export",
            "--locked",
            "--no-default-groups",
            "--extra",
            "odbc",
            "--no-emit-project",
            "--format",
            "requirements.txt",
        ).stdout
    )
    plan = uv(
        "pip", "install", "--dry-run", "--python-platform", platform, "--python-version", "3.11",
        "--target", str(tmp_path / "target"), "--require-hashes", "--only-binary", ":all:", "-r", str(requirements),
    ).stderr  # fmt: skip
    for package in ("pyodbc", "aioodbc", "filelock", "starlette", "msgspec", "cryptography"):
        assert f"+ {package}==" in plan, package
    if absent is not None:
        assert f"+ {absent}==" not in plan


def test_the_packaged_demo_settings_are_the_repositorys():
    """`redhorn demo` writes the packaged copy where no settings file is; it is config/appsettings.json."""
    packaged = (REPO / "redhorn" / "tools" / "demo" / "demo_settings.json").read_bytes()
    assert packaged == (REPO / "config" / "appsettings.json").read_bytes()


@dataclass
class Installed:
    site: Path  # a folder outside the repository, as a user's
    scripts: Path
    environment: dict[str, str]

    def run(self, *args: str) -> str:
        result = subprocess.run(
            [str(self.scripts / "redhorn"), *args],
            cwd=self.site,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"redhorn {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    work = tmp_path_factory.mktemp("wheel")
    uv("build", "--no-build-isolation", "--python", sys.executable, "--wheel", "--out-dir", str(work / "dist"))
    (wheel,) = (work / "dist").glob("redhorn-*-py3-none-any.whl")
    requirements = work / "requirements.txt"
    requirements.write_text(
        uv("export", "--locked", "--no-default-groups", "--no-emit-project", "--format", "requirements.txt").stdout
    )
    venv = work / "venv"
    uv("venv", "--python", sys.executable, str(venv))
    python = venv / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    uv("pip", "install", "--python", str(python), "--require-hashes", "-r", str(requirements))
    uv("pip", "install", "--python", str(python), "--no-deps", str(wheel))
    site = work / "site"
    site.mkdir()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("REDHORN_", "COV_", "COVERAGE_", "VIRTUAL_ENV", "PYTHON"))
    }
    yield Installed(site, python.parent, environment)


@pytest.mark.timeout(300)
def test_the_installed_wheel_serves_a_page_of_orders_from_outside_the_repository(installed: Installed):
    where = subprocess.run(
        [str(installed.scripts / "python"), "-c", "import redhorn; print(redhorn.__file__)"],
        cwd=installed.site,
        env=installed.environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert Path(where.strip()).is_relative_to(installed.scripts.parent), "redhorn came from the wheel"
    assert installed.run("--version").strip() == f"redhorn {PYPROJECT['project']['version']}"

    assert "Wrote the demo settings" in installed.run("demo", "--scale", "0.01")
    assert (installed.site / "config" / "appsettings.json").is_file()
    assert (installed.site / "data" / "F9999.db").is_file()
    installed.run("dev-cert")
    installed.run("licence", "demo")

    port = free_port()
    log_file = installed.site / "serve.log"
    with log_file.open("wb") as log:
        server = spawn(
            [str(installed.scripts / "redhorn"), "serve", "--port", str(port)],
            cwd=installed.site,
            env=installed.environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "Application startup complete" not in log_file.read_text(errors="replace"):
            assert server.poll() is None and time.monotonic() < deadline, log_file.read_text(errors="replace")
            time.sleep(0.1)
        certificate = installed.site / "config" / "dev-cert.pem"
        trust = ssl.create_default_context(cafile=str(certificate))
        with httpx.Client(verify=trust, auth=DEMO_USER, timeout=30) as client:
            response = client.get(f"https://127.0.0.1:{port}/api/9999/orders", params={"$top": "5"})
    finally:
        stop(server)
    assert response.status_code == 200, response.text
    orders = response.json()["value"]
    assert len(orders) == 5 and all("OrderNo" in order for order in orders)
    served = log_file.read_text(errors="replace")
    assert served.count("read; it expires") == 1, "the licence is reported once, not at every look"
    assert "unlicensed" not in served.lower()
