"""One page of a resource, as the server's paging and delta contract shape it.

A list page is `{"value": [...], "@odata.nextLink"?, "@odata.count"?}`; the last page of a full pull
asked with `Prefer: odata.track-changes` carries `@odata.deltaLink` when the server can track the
resource; a delta page adds `@redhorn.deletionsTracked`, and its removed rows are
`{"@removed": {...}, <key properties>}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redhorn.client.errors import ServerError
from redhorn.client.session import Session

TRACK_CHANGES = "odata.track-changes"
REMOVED = "@removed"


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    next_link: str | None
    delta_link: str | None
    count: int | None
    deletions_tracked: bool | None
    tracking: bool

    @property
    def changed(self) -> list[dict[str, Any]]:
        """The rows of a delta page that were added or changed."""
        return [row for row in self.rows if REMOVED not in row]

    @property
    def removed(self) -> list[dict[str, Any]]:
        """The rows of a delta page that were removed: their key properties only."""
        return [row for row in self.rows if REMOVED in row]


def prefer(page_size: int, *, track_changes: bool = False) -> dict[str, str]:
    """The `Prefer` header: page size, and change tracking when a mirror wants a delta link."""
    preferences = [f"odata.maxpagesize={page_size}"]
    if track_changes:
        preferences.append(TRACK_CHANGES)
    return {"Prefer": ", ".join(preferences)}


def first_page_params(filter_text: str | None, select: str | None) -> dict[str, str]:
    """The first request's query: `$count` for the ETA, `$filter` and `$select` passed through."""
    params = {"$count": "true"}
    if filter_text:
        params["$filter"] = filter_text
    if select:
        params["$select"] = select
    return params


async def fetch_page(
    session: Session, url: str, *, page_size: int, params: dict[str, str] | None = None, track_changes: bool = False
) -> Page:
    """GET one page and check its shape.

    Raises:
        ServerError: an error answer, or one that is not a page.
    """
    answer = await session.get(url, params=params, headers=prefer(page_size, track_changes=track_changes))
    body = answer.body
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise ServerError(200, "NotAPage", f"the answer to {url} holds no 'value' array")
    applied = answer.headers.get("Preference-Applied", "")
    tracking = any(part.strip().lower() == TRACK_CHANGES for part in applied.split(","))
    count = body.get("@odata.count")
    deletions = body.get("@redhorn.deletionsTracked")
    return Page(
        rows=[row for row in body["value"] if isinstance(row, dict)],
        next_link=_link(body, "@odata.nextLink"),
        delta_link=_link(body, "@odata.deltaLink"),
        count=count if isinstance(count, int) else None,
        deletions_tracked=deletions if isinstance(deletions, bool) else None,
        tracking=tracking,
    )


def _link(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    return value if isinstance(value, str) and value else None
