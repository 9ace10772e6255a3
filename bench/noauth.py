"""redhorn with authentication replaced by a backend that trusts every request as the bench user.

The baseline that the Basic and Bearer runs are compared against, so the figure is what checking
credentials costs. Run: REDHORN_SETTINGS=... uvicorn bench.noauth:app
"""

from __future__ import annotations

from starlette.authentication import AuthCredentials, AuthenticationBackend
from starlette.requests import HTTPConnection

import redhorn
from redhorn.application import default_settings_file
from redhorn.auth.principal import Principal, principal_of
from redhorn.settings import load_settings

settings = load_settings(default_settings_file())


class TrustEveryone(AuthenticationBackend):
    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, Principal]:
        return AuthCredentials(["authenticated"]), self.principal


app = redhorn.create_app(settings, authentication=TrustEveryone(principal_of(settings.api_users[0], settings)))
