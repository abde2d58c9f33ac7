"""Agents as platform citizens: their ``Agent`` spec, their identity and their signed tokens.

``service`` is the entry point; ``spec`` parses the kind; ``tokens`` signs and
verifies; ``models`` holds the tables.
"""

from __future__ import annotations

__all__: list[str] = []
