"""What `uvicorn app:app` serves."""

from __future__ import annotations

import redhorn

app = redhorn.create_app()
