"""Exceptions raised by the server-side proxy (`pushi.client.Pushi`).

Every failure of an HTTP API call is a `PushiError`.  Answers with a known
error status raise the matching subclass, so callers can write
``except pushi.errors.Unauthorized:`` for a bad key/secret or clock skew.
Failures to reach the server at all (refused, reset, DNS, timeout) raise a
plain `PushiError` with ``status == 0``.
"""

from __future__ import annotations

__all__ = [
    "PushiError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "error_for_status",
]


class PushiError(Exception):
    """A failed request to a pushi server.

    Attributes:
        status: the HTTP status of the answer, or 0 when no answer was
            received (connection refused, timeout, ...).
        message: the server's explanation (the ``"error"`` field of its JSON
            body, the ``"message"`` field of a classic-API error
            ``{"result": "error", ...}``, else the raw body text) or a
            description of the failure.
    """

    #: The status this class stands for; 0 for the generic class.
    default_status: int = 0

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message: str = message
        self.status: int = self.default_status if status is None else status

    def __str__(self) -> str:
        if self.status:
            return f"HTTP {self.status}: {self.message}"
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status})"


class BadRequest(PushiError):
    """400: the request was malformed (bad JSON, invalid channel or event name, ...)."""

    default_status = 400


class Unauthorized(PushiError):
    """401: unknown key, bad signature, stale timestamp or wrong body_md5."""

    default_status = 401


class Forbidden(PushiError):
    """403: the app is disabled or over a quota; on the classic API, no (or an
    expired) session, or a missing admin credential."""

    default_status = 403


class NotFound(PushiError):
    """404: unknown app id or path; on the classic API, also wrong login
    credentials and (with ``force``) a missing subscription."""

    default_status = 404


class PayloadTooLarge(PushiError):
    """413: the body or the event data exceeds the server's limits."""

    default_status = 413


_BY_STATUS: dict[int, type[PushiError]] = {
    cls.default_status: cls
    for cls in (BadRequest, Unauthorized, Forbidden, NotFound, PayloadTooLarge)
}


def error_for_status(status: int, message: str) -> PushiError:
    """The exception instance for an HTTP error `status` (subclass when known)."""
    return _BY_STATUS.get(status, PushiError)(message, status)
