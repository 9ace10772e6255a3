"""The errors a write can meet, each with its status and stable code (see `redhorn.errors`)."""

from __future__ import annotations

from redhorn.errors import ApiError


class MalformedBody(ApiError):
    """The body is not JSON, or not of the shape the operation takes (400)."""

    status = 400
    code = "MalformedBody"


class UnsupportedMediaType(ApiError):
    """The body is not `application/json` (415)."""

    status = 415
    code = "UnsupportedMediaType"


class BodyTooLarge(ApiError):
    """The body is larger than `Writes.MaxBodyBytes` (413)."""

    status = 413
    code = "BodyTooLarge"


class UnknownProperty(ApiError):
    """The body names a property the resource does not have (422)."""

    status = 422
    code = "UnknownProperty"


class InvalidValue(ApiError):
    """A value does not fit its column: type, length, range or scale (422)."""

    status = 422
    code = "InvalidValue"


class MissingValue(ApiError):
    """A new row lacks a value it must have, such as a key no number series gives (422)."""

    status = 422
    code = "MissingValue"


class ReadOnlyResource(ApiError):
    """The resource cannot be written: a view, or a table of `vbsys` or `Catalog` (405)."""

    status = 405
    code = "ReadOnlyResource"


class DuplicateKey(ApiError):
    """A row with that key exists already (409)."""

    status = 409
    code = "DuplicateKey"


class KeyImmutable(ApiError):
    """The body gives a key value that differs from the row's: keys never change (409)."""

    status = 409
    code = "KeyImmutable"


class PreconditionFailed(ApiError):
    """`If-Match` names a version of the row that is no longer current (412)."""

    status = 412
    code = "PreconditionFailed"


class IdempotencyKeyReused(ApiError):
    """An `Idempotency-Key` seen before came with a different request (422)."""

    status = 422
    code = "IdempotencyKeyReused"


class IdempotencyKeyInUse(ApiError):
    """The first request with this `Idempotency-Key` is still being carried out (409)."""

    status = 409
    code = "IdempotencyKeyInUse"


class IdempotencyOutcomeUnknown(ApiError):
    """The first request with this `Idempotency-Key` may or may not have been written, and redhorn
    cannot tell (the writer went away mid-write); an operator must look (409, see the README)."""

    status = 409
    code = "IdempotencyOutcomeUnknown"


class WriterUnavailable(ApiError):
    """The writer cannot be reached (VBS down or slow, the database locked too long) (503)."""

    status = 503
    code = "WriterUnavailable"


class VbsFailed(ApiError):
    """Visma Business Services refused or failed the request; its messages are in the text (502)."""

    status = 502
    code = "VbsFailed"


class WriteOutcomeUnknown(WriterUnavailable):
    """The write was sent and no answer came (VBS went away or timed out mid-write): it may have been
    applied. 503 for this request; a keyed write's key is then held as outcome unknown."""
