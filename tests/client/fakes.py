"""A fake redhorn for the client's unit tests, as an httpx MockTransport: the token endpoint, the resource
listing, server-driven paging and the delta contract (`Prefer: odata.track-changes`, delta links,
`@removed` rows, `@redhorn.deletionsTracked`, 410 for an expired delta token)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

BASE = "https://fake.test"
PASSWORD = "s3cret-password"


@dataclass
class FakeServer:
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    trackable: bool = True
    deletions_tracked: bool = True
    version: int = 0
    log: list[tuple[int, int]] = field(default_factory=list)  # (version, key) of each change
    expired: set[int] = field(default_factory=set)
    requests: list[httpx.Request] = field(default_factory=list)
    logins: int = 0

    def put(self, row: dict[str, Any]) -> None:
        self.version += 1
        self.rows[row["Id"]] = row
        self.log.append((self.version, row["Id"]))

    def remove(self, key: int) -> None:
        self.version += 1
        del self.rows[key]
        self.log.append((self.version, key))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/api/oauth/token":
            self.logins += 1
            return httpx.Response(200, json={"access_token": f"token-{self.logins}", "expires_in": 3600})
        if path == "/api/9999":
            return httpx.Response(200, json={"value": [{"name": "things", "key": ["Id"]}]})
        if path == "/api/9999/things":
            query = {name: values[0] for name, values in parse_qs(urlsplit(str(request.url)).query).items()}
            prefer = request.headers.get("Prefer", "")
            size = int(prefer.split("odata.maxpagesize=")[1].split(",")[0]) if "maxpagesize" in prefer else 1000
            if "$deltatoken" in query:
                return self._delta(int(query["$deltatoken"]), int(query.get("page", 0)), size)
            return self._page(int(query.get("page", 0)), size, "odata.track-changes" in prefer)
        return httpx.Response(404, json={"error": {"code": "NotFound", "message": "no such path"}})

    def _page(self, number: int, size: int, track: bool) -> httpx.Response:
        keys = sorted(self.rows)
        chunk = keys[number * size : (number + 1) * size]
        body: dict[str, Any] = {"value": [self.rows[key] for key in chunk]}
        if number == 0:
            body["@odata.count"] = len(keys)
        if (number + 1) * size < len(keys):
            body["@odata.nextLink"] = f"{BASE}/api/9999/things?page={number + 1}"
        elif track and self.trackable:
            body["@odata.deltaLink"] = f"{BASE}/api/9999/things?$deltatoken={self.version}"
        applied = f"odata.maxpagesize={size}" + (", odata.track-changes" if track and self.trackable else "")
        return httpx.Response(200, json=body, headers={"Preference-Applied": applied})

    def _delta(self, since: int, number: int, size: int) -> httpx.Response:
        if since in self.expired:
            body = {"error": {"code": "DeltaTokenExpired", "message": "The delta token is too old"}}
            return httpx.Response(410, json=body)
        changed = sorted({key for version, key in self.log if version > since})
        entries = []
        for key in changed:
            if key in self.rows:
                entries.append(self.rows[key])
            elif self.deletions_tracked:
                entries.append({"@removed": {"reason": "deleted"}, "Id": key})
        chunk = entries[number * size : (number + 1) * size]
        answer: dict[str, Any] = {"value": chunk, "@redhorn.deletionsTracked": self.deletions_tracked}
        if (number + 1) * size < len(entries):
            answer["@odata.nextLink"] = f"{BASE}/api/9999/things?$deltatoken={since}&page={number + 1}"
        else:
            answer["@odata.deltaLink"] = f"{BASE}/api/9999/things?$deltatoken={self.version}"
        return httpx.Response(200, content=json.dumps(answer).encode(), headers={"Content-Type": "application/json"})


def thing(key: int, name: str = "", amount: str = "1.50") -> dict[str, Any]:
    return {"Id": key, "Name": name or f"thing {key}", "Amount": float(amount)}
