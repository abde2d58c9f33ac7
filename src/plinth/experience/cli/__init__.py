"""The ``plinth`` command-line client: a pure client of the REST API (see ``docs/cli.md``)."""

from __future__ import annotations

__all__: list[str] = []
