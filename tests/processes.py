"""Every process a test starts ends with the run, however the run ends.

Tests start real servers (`redhorn serve`, the licence service, the VBS emulator) as processes of
their own. Each starts in a process group of its own (a new session on POSIX), so that stopping it
stops whatever it started too (uvicorn's workers). All are remembered until stopped, and this
module, loaded as a pytest plugin, stops those left over when pytest ends: normally, on a failure,
on SIGINT (pytest's KeyboardInterrupt unwinds every test's `finally`), and on SIGTERM, which it
turns into the same KeyboardInterrupt. A group of their own also keeps a terminal's Ctrl-C, sent to
the foreground group, from reaching the servers before pytest can stop them in order.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

import pytest

STOP_SECONDS = 10
_running: set[subprocess.Popen[bytes]] = set()


def spawn(args: Sequence[str], **options: Any) -> subprocess.Popen[bytes]:
    """Start `args` in a process group of its own, remembered until `stop`."""
    if sys.platform == "win32":
        options["creationflags"] = options.get("creationflags", 0) | subprocess.CREATE_NEW_PROCESS_GROUP
    else:
        options["start_new_session"] = True
    process: subprocess.Popen[bytes] = subprocess.Popen(list(args), **options)
    _running.add(process)
    return process


def stop(process: subprocess.Popen[bytes], seconds: float = STOP_SECONDS) -> None:
    """Ask a process and its group to stop; kill them if they have not within `seconds`."""
    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL if sys.platform != "win32" else signal.SIGTERM)
        process.wait()
    if sys.platform != "win32":
        _signal_group(process, signal.SIGKILL)  # anything of the group that outlived its leader
    _running.discard(process)


def _signal_group(process: subprocess.Popen[bytes], signal_number: int) -> None:
    if sys.platform == "win32":
        with contextlib.suppress(OSError):
            process.send_signal(signal_number)
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal_number)


def stop_all() -> None:
    """Stop every process still running that a test started."""
    for process in list(_running):
        stop(process)


def running() -> list[subprocess.Popen[bytes]]:
    return [process for process in _running if process.poll() is None]


def _interrupt_on_sigterm(signal_number: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal_number}")


def pytest_configure(config: pytest.Config) -> None:
    atexit.register(stop_all)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # A shell without job control starts background commands with SIGINT ignored, and Python
        # keeps that: such a run could not be interrupted, nor could the servers it started.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if sys.platform != "win32":
        signal.signal(signal.SIGTERM, _interrupt_on_sigterm)


def pytest_unconfigure(config: pytest.Config) -> None:
    stop_all()
