"""``plinth demo``: seed a demo organisation with weeks of history, tell its story, serve it."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from plinth.core.config import load_settings
from plinth.core.errors import Conflict
from plinth.experience.cli.context import guarded
from plinth.experience.cli.output import err_console, out_console

__all__ = ["demo", "register"]

_OUTCOME_STYLE = {
    "ok": "green",
    "applied": "green",
    "planned": "green",
    "approved": "cyan",
    "needs_approval": "magenta",
    "denied": "red",
    "error": "bold red",
}


def _print_step(step: Any) -> None:
    """Print one step of the story as a panel."""
    style = _OUTCOME_STYLE.get(step.outcome, "white")
    body = Text("\n".join(step.lines))
    title = Text.assemble((step.persona, "bold"), ": ", step.title)
    subtitle = Text(step.outcome, style=style)
    out_console().print(Panel(body, title=title, subtitle=subtitle, border_style=style))


def _print_access(url: str, tokens: dict[str, str], data_dir: Path) -> None:
    table = Table(
        title="Demo users (tokens also in tokens.json and cli.yaml)", title_justify="left"
    )
    for column in ("user", "token"):
        table.add_column(column)
    for name, token in tokens.items():
        table.add_row(name, token)
    console = out_console()
    console.print(table)
    console.print(Text(f"Portal: {url}/portal   API: {url}/api/v1   docs: {url}/docs", "bold"))
    console.print(f"CLI: PLINTH_CLI_CONFIG={data_dir / 'cli.yaml'} plinth dora --team payments")


UPSTREAM_MODULE = "plinth.integration.llm_upstream"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def llm_upstream(data_dir: Path) -> Iterator[str]:
    """Run the local OpenAI-speaking upstream for the AI gateway; yield its URL ('' if none).

    The port is kept in the data dir, so serving the demo later uses the same one; an
    upstream given in PLINTH_LLM_UPSTREAM_URL is used as it is.
    """
    from plinth.orchestration.demo import UPSTREAM_FILES

    given = os.environ.get("PLINTH_LLM_UPSTREAM_URL")
    if given or importlib.util.find_spec(UPSTREAM_MODULE) is None:
        yield given or ""
        return
    port_file = data_dir / UPSTREAM_FILES[0]
    port = int(port_file.read_text()) if port_file.exists() else _free_port()
    log = open(data_dir / UPSTREAM_FILES[1], "ab")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", UPSTREAM_MODULE, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.1)
        port_file.write_text(str(port))
        url = f"http://127.0.0.1:{port}/v1"
        os.environ["PLINTH_LLM_UPSTREAM_URL"] = url  # the demo's LlmProvider points here
        yield url
    finally:
        os.environ.pop("PLINTH_LLM_UPSTREAM_URL", None)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def _seed(data_dir: Path, *, host: str, port: int, days: int, seed: int) -> dict[str, str]:
    from plinth.experience.api.server import write_tokens
    from plinth.experience.cli.client import write_cli_config
    from plinth.orchestration.demo import seed_demo_organisation

    settings = load_settings({"data_dir": data_dir, "host": host, "port": port})
    err_console().print(f"Seeding the demo organisation in {data_dir} ({days} days of history)")
    result = seed_demo_organisation(settings, days=days, seed=seed, report=_print_step)
    write_tokens(data_dir, result.tokens)
    current = "ada" if "ada" in result.tokens else next(iter(result.tokens))
    write_cli_config(
        data_dir / "cli.yaml",
        url=f"http://{host}:{port}",
        users=result.tokens,
        current_user=current,
    )
    return result.tokens


@guarded
def demo(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="A new (or earlier demo) data dir.")
    ] = Path(".plinth-demo"),
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8080,
    days: Annotated[
        int, typer.Option("--days", min=1, max=182, help="Days of history to seed.")
    ] = 42,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the history's randomness.")] = 7,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Seed (or reuse), print access, and exit.")
    ] = False,
) -> None:
    """Seed a demo organisation with weeks of history, run its story, then serve it.

    Deploys with commits, failures and rollbacks, FinOps usage and spend, the
    deploy bot's escalations and GPU jobs are made through the platform's own
    paths with a clock set in the past; then the story runs (docs/demo.md).
    A data dir seeded by an earlier `plinth demo` is reused; any other non-empty
    data dir is refused.

    Examples:

      plinth demo

      plinth demo --data-dir /tmp/demo --days 14 --no-serve
    """
    from plinth.orchestration.demo import MARKER, demo_state

    state = demo_state(data_dir)
    if state == "other":
        raise Conflict(
            f"{data_dir} holds data that `plinth demo` did not seed (or an interrupted "
            "seeding): give a new --data-dir or remove that one"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    with llm_upstream(data_dir) as upstream:
        if state == "demo":
            seeded = json.loads((data_dir / MARKER).read_text()).get("seeded_at", "?")
            err_console().print(f"Reusing the demo data in {data_dir} (seeded {seeded}).")
            tokens: dict[str, str] = json.loads((data_dir / "tokens.json").read_text())
        else:
            tokens = _seed(data_dir, host=host, port=port, days=days, seed=seed)
        _print_access(f"http://{host}:{port}", tokens, data_dir)
        if upstream:
            err_console().print(f"LLM upstream for the AI gateway: {upstream}")
        if no_serve:
            return
        from plinth.experience.api.server import serve

        serve(host=host, port=port, data_dir=data_dir)


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the root app."""
    app.command("demo")(demo)
