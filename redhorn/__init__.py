"""redhorn: a fast REST and OData API over Visma Business databases.

The names below are imported when first used, so that `redhorn.client` (the `redhorn pull`
library, which needs nothing of the server) and the command line's light commands do not load
the whole server on import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redhorn.application import create_app
    from redhorn.errors import SettingsError
    from redhorn.settings import Settings, load_settings

__all__ = ["Settings", "SettingsError", "__version__", "create_app", "load_settings"]

_HOMES = {
    "create_app": "redhorn.application",
    "SettingsError": "redhorn.errors",
    "Settings": "redhorn.settings",
    "load_settings": "redhorn.settings",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        return importlib.import_module("redhorn.application").VERSION
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'redhorn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
