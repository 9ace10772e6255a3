"""The reference licence service: renews licences that its own key signed.

`redhorn licence serve --key issuer.pem` runs it. The protocol (also at `/openapi.json`):

    POST /api/licences/renew  {"licence": "<a licence this service issued>"}
      200 {"licence": "<the same licence id, licensee and companies, expiring `days` from now>"}
      400 the body is not JSON with a licence        403 not ours, or revoked
      410 expired longer ago than the grace period
    GET  /api/licences/public-key   the issuer's public key (PEM), for ApiLicence.IssuerPublicKey

A licence proves itself: whoever holds one this service signed may renew it, so the service keeps
no customer records; a vendor stops a customer by listing the licence id in the revocation file.
"""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
from apispec import APISpec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from redhorn.encoding import HealthReport, encode
from redhorn.errors import BadRenewalRequest, ErrorBody, ExpiredTooLong, LicenceError, NotRenewable, error_response
from redhorn.licensing.keeper import RenewalAnswer, RenewalRequest
from redhorn.licensing.licence import issue_licence, load_private_key, load_public_key, public_key_of, verify_licence

MAX_BODY_BYTES = 64 * 1024
_HEALTHY = encode(HealthReport(status="ok"))  # the API's /health shape, without the API's details


def create_service(
    private_key_pem: bytes, *, days: float = 365, grace_days: float = 90, revoked: Path | None = None
) -> Starlette:
    """The licence service app for the issuer key in `private_key_pem`.

    Args:
        days: how long a renewed licence is valid.
        grace_days: how long after its expiry a licence may still be renewed.
        revoked: a file of revoked licence ids, one a line; read on every request.
    """
    private_key = load_private_key(private_key_pem)
    public_pem = public_key_of(private_key_pem)
    public_key = load_public_key(public_pem)

    async def renew(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return error_response(BadRenewalRequest("The body is too large"))
        try:
            text = msgspec.json.decode(body, type=RenewalRequest).licence
        except (msgspec.DecodeError, msgspec.ValidationError):
            return error_response(BadRenewalRequest('Send {"licence": "<licence>"} as JSON'))
        try:
            current = verify_licence(text, public_key, now=0)
        except LicenceError:
            return error_response(NotRenewable("This service did not issue that licence"))
        if current.expires + grace_days * 86400 < time.time():
            return error_response(ExpiredTooLong(f"The licence expired on {current.expiry_text()}; ask for a new one"))
        if revoked is not None and revoked.is_file() and current.id in revoked.read_text().split():
            return error_response(NotRenewable(f"The licence {current.id} is revoked"))
        fresh = issue_licence(
            private_key, current.licensee, days=days, companies=current.companies, licence_id=current.id
        )
        return Response(encode(RenewalAnswer(fresh)), media_type="application/json")

    async def public_key_pem(request: Request) -> Response:
        return Response(public_pem, media_type="application/x-pem-file")

    async def openapi(request: Request) -> Response:
        return Response(encode(service_openapi()), media_type="application/json")

    async def health(request: Request) -> Response:
        return Response(_HEALTHY, media_type="application/json")

    routes = [
        Route("/api/licences/renew", renew, methods=["POST"]),
        Route("/api/licences/public-key", public_key_pem, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ]
    return Starlette(routes=routes)


def service_openapi() -> dict[str, object]:
    """The renewal protocol as an OpenAPI 3.1 document."""
    spec = APISpec(title="redhorn licence service", version="1", openapi_version="3.1.0")
    _, components = msgspec.json.schema_components(
        (RenewalRequest, RenewalAnswer, ErrorBody), ref_template="#/components/schemas/{name}"
    )
    for name, schema in components.items():
        spec.components.schema(name, schema)

    def error(description: str) -> dict[str, object]:
        return {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        }

    spec.path(
        path="/api/licences/renew",
        operations={
            "post": {
                "operationId": "renew_licence",
                "summary": "A new licence for a licence this service issued, expiring later",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RenewalRequest"}}},
                },
                "responses": {
                    "200": {
                        "description": "The renewed licence: same id, licensee and companies",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RenewalAnswer"}}},
                    },
                    "400": error("The body is not JSON with a licence"),
                    "403": error("Not issued by this service, or revoked"),
                    "410": error("Expired longer ago than the grace period"),
                },
            }
        },
    )
    spec.path(
        path="/api/licences/public-key",
        operations={
            "get": {
                "operationId": "issuer_public_key",
                "summary": "The issuer's Ed25519 public key, PEM",
                "responses": {"200": {"description": "PEM", "content": {"application/x-pem-file": {}}}},
            }
        },
    )
    return spec.to_dict()
