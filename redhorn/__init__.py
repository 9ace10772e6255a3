"""redhorn: a fast REST and OData API over Visma Business databases."""

from __future__ import annotations

from redhorn.application import VERSION, create_app
from redhorn.errors import SettingsError
from redhorn.settings import Settings, load_settings

__version__ = VERSION

__all__ = ["Settings", "SettingsError", "__version__", "create_app", "load_settings"]
