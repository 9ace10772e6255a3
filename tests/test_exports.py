"""The package's public names are exactly those it lists, sorted, each with a docstring."""

from __future__ import annotations

import redhorn


def test_exported_members():
    exported = [name for name in dir(redhorn) if not name.startswith("_") or name == "__version__"]
    public = [name for name in exported if name in redhorn.__all__]
    assert redhorn.__all__ == sorted(redhorn.__all__)
    assert public == sorted(redhorn.__all__)
    for name in redhorn.__all__:
        member = getattr(redhorn, name)
        if callable(member):
            assert member.__doc__, name
    assert redhorn.__version__ == "0.1.0"
