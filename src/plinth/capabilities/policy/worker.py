"""The policy worker: a child process that compiles and evaluates Rego with regopy.

regopy runs rego-cpp in-process and cannot be interrupted, so the control plane never
calls it directly: ``engine.py`` talks to this process over pipes (one JSON request per
line, one JSON answer per line) and kills it when an answer takes too long. The worker
keeps each pack compiled (by the digest of its modules and data), so evaluating a plan
costs one query per pack.

Requests: ``{"op": "load", "key", "modules", "data"}``, ``{"op": "eval", "key",
"input"}``, ``{"op": "test", "key", "tests": [[package, rule], ...]}``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections import OrderedDict
from typing import Any

__all__ = ["levels_of", "main", "packages_of", "rule_names"]

_PACKAGE = re.compile(r"^\s*package\s+([A-Za-z_][\w.]*)", re.MULTILINE)
_TEST_RULE = re.compile(r"^(test_\w+)\b", re.MULTILINE)
_LEVEL_RULE = re.compile(r"^(deny|warn|needs_approval)\b", re.MULTILINE)
_LOCATION = re.compile(r"\(error\s+\d+:([^|\s]+)\|(\d+)\|")
_MESSAGE = re.compile(r"\(errormsg\s+\d+:([^)]*)\)")
_LEVELS = ("deny", "warn", "needs_approval")
_CACHE_SIZE = 32


def packages_of(text: str) -> list[str]:
    """Return the package a Rego module declares (empty when it declares none)."""
    match = _PACKAGE.search(text)
    return [match.group(1)] if match else []


def rule_names(text: str) -> list[str]:
    """Return the ``test_*`` rules a module defines."""
    return sorted(set(_TEST_RULE.findall(text)))


def levels_of(text: str) -> list[tuple[str, str]]:
    """Return ``(package, level)`` for each deny/warn/needs_approval rule a module defines."""
    return [
        (p, level) for p in packages_of(text) for level in sorted(set(_LEVEL_RULE.findall(text)))
    ]


def _rules_query(rules: list[tuple[str, str]]) -> str:
    """Return one query for every rule's value (an array, in the order of ``rules``)."""
    return "x := [" + ", ".join(f"data.{package}.{level}" for package, level in rules) + "]"


def _error_text(exc: Exception, sources: dict[str, str]) -> dict[str, Any]:
    text = str(exc)
    message = _MESSAGE.search(text)
    where = _LOCATION.search(text)
    answer: dict[str, Any] = {
        "ok": False,
        "error": message.group(1).strip() if message else text.strip()[:500],
    }
    if where and where.group(1) in sources:
        module, offset = where.group(1), int(where.group(2))
        answer["module"] = module
        answer["line"] = sources[module][:offset].count("\n") + 1
    return answer


def _string(raw: str) -> str:
    try:
        value = json.loads(raw)
    except ValueError:  # rego-cpp splices some built-ins' results with their quotes
        value = raw[1:-1] if len(raw) > 1 and raw[0] == raw[-1] == '"' else raw
    return value if isinstance(value, str) else raw


def _python(node: Any) -> Any:
    """Convert a rego-cpp result node to Python data, tolerating unescaped strings."""
    from regopy.rego_shared import NodeKind, rego_node_value  # type: ignore[import-untyped]

    kind = node.kind
    if kind in (NodeKind.Term, NodeKind.Scalar):
        return _python(node.at(0))
    if kind == NodeKind.String:
        return _string(rego_node_value(node._impl))
    if kind == NodeKind.Array:
        return [_python(node.at(i)) for i in range(len(node))]
    if kind == NodeKind.Set:
        return [_python(child) for child in node._children.values()]
    if kind == NodeKind.Object:
        return {_string(key): _python(value) for key, value in node._children.items()}
    if kind in (NodeKind.True_, NodeKind.False_, NodeKind.Boolean):
        return rego_node_value(node._impl) == "true"
    if kind == NodeKind.Null:
        return None
    return node.value


def _values(impl: Any) -> list[Any] | None:
    """Return the ``x`` binding of a raw query output (None when undefined); free it."""
    from regopy.node import Node  # type: ignore[import-untyped]
    from regopy.rego_shared import (
        rego_free_output,
        rego_output_binding_at_index,
        rego_output_ok,
    )

    try:
        if not rego_output_ok(impl):
            raise RuntimeError("evaluation failed (a built-in raised an error)")
        binding = rego_output_binding_at_index(impl, 0, "x")
        found = _python(Node(binding)) if binding else None
    finally:
        rego_free_output(impl)
    return found if isinstance(found, list) else None


def _set_input(interpreter: Any, value: Any) -> None:
    """Give ``interpreter`` JSON data as its input, built node by node in rego-cpp.

    What regopy's ``Interpreter.set_input`` does, for JSON data only: dispatching on the
    exact type (not on abstract collections) and handing bytes straight to the library
    makes this several times faster on a plan's input.
    """
    from regopy.rego_shared import (
        rego,
        rego_free_input,
        rego_new_input,
        rego_set_input,
    )

    handle = rego_new_input()

    def check(code: int) -> None:
        if code != 0:
            raise RuntimeError("the input could not be built")

    def add(val: Any) -> None:
        kind = type(val)
        if kind is str:
            check(rego.regoInputString(handle, val.encode()))
        elif kind is dict:
            for key, item in val.items():
                add(key)
                add(item)
                check(rego.regoInputObjectItem(handle))
            check(rego.regoInputObject(handle, len(val)))
        elif kind is list:
            for item in val:
                add(item)
            check(rego.regoInputArray(handle, len(val)))
        elif kind is bool:
            check(rego.regoInputBoolean(handle, val))
        elif kind is int:
            check(rego.regoInputInt(handle, val))
        elif kind is float:
            check(rego.regoInputFloat(handle, val))
        elif val is None:
            check(rego.regoInputNull(handle))
        else:
            raise ValueError(f"cannot give a {kind.__name__} to Rego")

    try:
        add(value)
        rego_set_input(interpreter._impl, handle)
    finally:
        rego_free_input(handle)


class _Worker:
    def __init__(self) -> None:
        self.compiled: OrderedDict[str, tuple[Any, Any, list[tuple[str, str]]]] = OrderedDict()
        self.requests: dict[str, dict[str, Any]] = {}

    def load(self, request: dict[str, Any]) -> dict[str, Any]:
        from regopy import Interpreter  # type: ignore[import-untyped]

        modules: dict[str, str] = request["modules"]
        tests: dict[str, str] = request.get("tests") or {}
        interpreter = Interpreter()
        try:
            for name, text in modules.items():
                interpreter.add_module(name, text)
            for name, text in tests.items():  # parsed here, compiled apart (see test)
                Interpreter().add_module(name, text)
            rules = sorted({r for text in modules.values() for r in levels_of(text)})
            if request.get("data"):
                interpreter.add_data(request["data"])
        except Exception as exc:  # regopy raises RegoError with the location in its text
            return _error_text(exc, {**modules, **tests})
        interpreter.set_input({})  # rego-cpp needs an input before it builds
        bundle = interpreter.build(_rules_query(rules))
        if not bundle.ok():
            return {"ok": False, "error": "the modules do not compile"}
        self.compiled[request["key"]] = (interpreter, bundle, rules)
        self.requests[request["key"]] = request
        while len(self.compiled) > _CACHE_SIZE:
            old, _ = self.compiled.popitem(last=False)
            self.requests.pop(old, None)
        return {"ok": True}

    def _compiled(self, key: str) -> tuple[Any, Any, list[tuple[str, str]]] | None:
        found = self.compiled.get(key)
        if found is not None:
            self.compiled.move_to_end(key)
        return found

    def evaluate(self, request: dict[str, Any]) -> dict[str, Any]:
        compiled = self._compiled(request["key"])
        if compiled is None:
            return {"ok": False, "error": "unknown-key"}
        from regopy.rego_shared import rego_bundle_query, rego_query

        interpreter, bundle, rules = compiled
        if not rules:
            return {"ok": True, "raw": []}
        _set_input(interpreter, request.get("input") or {})
        values = _values(rego_bundle_query(interpreter._impl, bundle._impl))
        if values is None or len(values) != len(rules):
            # One rule is undefined (a complete rule that did not match, or an error):
            # ask each rule alone so the others still count.
            values = []
            for package, level in rules:
                one = _values(rego_query(interpreter._impl, f"x := [data.{package}.{level}]"))
                values.append(one[0] if one else [])
        raw = [[p, level, v] for (p, level), v in zip(rules, values, strict=True)]
        return {"ok": True, "raw": raw}

    def test(self, request: dict[str, Any]) -> dict[str, Any]:
        from regopy import Interpreter

        loaded = self.requests.get(request["key"])
        if loaded is None:
            return {"ok": False, "error": "unknown-key"}
        # Tests get their own interpreter: rego-cpp cannot build a bundle next to modules
        # that use ``with``, and tests must never stop the pack from being evaluated.
        interpreter = Interpreter()
        for name, text in {**loaded["modules"], **(loaded.get("tests") or {})}.items():
            interpreter.add_module(name, text)
        if loaded.get("data"):
            interpreter.add_data(loaded["data"])
        interpreter.set_input({})
        wanted: list[list[str]] = request["tests"]
        lines = ["package plinth_internal_tests", "import rego.v1"]
        lines += [f"passed contains {i} if data.{p}.{r}" for i, (p, r) in enumerate(wanted)]
        interpreter.add_module("plinth_internal_tests", "\n".join(lines) + "\n")
        together = interpreter.query("x := data.plinth_internal_tests.passed")
        if together.ok() and together.results:  # one query for all; one at a time on errors
            passed = set(together.results[0].bindings.get("x") or [])
            return {
                "ok": True,
                "results": [[p, r, i in passed, None] for i, (p, r) in enumerate(wanted)],
            }
        outcomes: list[list[Any]] = []
        for package, rule in wanted:
            output = interpreter.query(f"data.{package}.{rule}")
            if not output.ok():
                outcomes.append([package, rule, False, "the test raised an error"])
                continue
            values = output.results[0].expressions if output.results else []
            outcomes.append([package, rule, bool(values) and values[0] is True, None])
        return {"ok": True, "results": outcomes}

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "load":
            return self.load(request)
        if op == "eval":
            return self.evaluate(request)
        if op == "test":
            return self.test(request)
        return {"ok": True, "pong": True} if op == "ping" else {"ok": False, "error": "bad op"}


def main() -> None:
    """Serve requests from stdin until it closes."""
    worker = _Worker()
    # Answers go to a private copy of stdout; anything rego-cpp prints goes to stderr.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    for line in sys.stdin:
        try:
            answer = worker.handle(json.loads(line))
        except Exception as exc:  # answer every request: the engine fails closed on errors
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
