"""Errors of the gateway, in the OpenAI wire format: ``{"error": {message, type, code}}``."""

from __future__ import annotations

import json

__all__ = ["LlmError", "bad_request", "error_body"]


def error_body(message: str, *, type: str, code: str, param: str | None = None) -> bytes:
    """Return an OpenAI-style error document."""
    error = {"message": message, "type": type, "param": param, "code": code}
    return json.dumps({"error": error}, ensure_ascii=False).encode()


class LlmError(Exception):
    """A request the gateway refuses or cannot serve, with its HTTP status."""

    def __init__(self, status: int, message: str, *, type: str, code: str) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code = status, message, type, code

    def body(self) -> bytes:
        """Return the error document."""
        return error_body(self.message, type=self.type, code=self.code)


def bad_request(message: str, code: str = "invalid_request") -> LlmError:
    """Return a 400 ``invalid_request_error``."""
    return LlmError(400, message, type="invalid_request_error", code=code)
