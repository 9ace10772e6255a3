from __future__ import annotations

from redhorn.cli import main

raise SystemExit(main())
