"""The AI gateway (LLM): an OpenAI-compatible endpoint that governs every inference.

See ``gateway.py`` for the pipeline, ``calls.py`` for upstream calls and streams,
``accountant.py`` for budgets, ``writer.py`` for the records, and docs/llm-gateway.md.
"""

from __future__ import annotations

from plinth.orchestration.llm_gateway.calls import ChatStream, complete, embed
from plinth.orchestration.llm_gateway.errors import LlmError, error_body
from plinth.orchestration.llm_gateway.facade import LlmFacade
from plinth.orchestration.llm_gateway.gateway import Caller, LlmGateway, Prepared, dumps
from plinth.orchestration.llm_gateway.requests import parse_chat, parse_embeddings

__all__ = [
    "Caller",
    "ChatStream",
    "LlmError",
    "LlmFacade",
    "LlmGateway",
    "Prepared",
    "complete",
    "dumps",
    "embed",
    "error_body",
    "parse_chat",
    "parse_embeddings",
]
