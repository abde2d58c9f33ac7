"""The ``plinth`` command: a client of the Plinth REST API, like kubectl is of Kubernetes."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from plinth.experience.cli import backstage, demo, dora, gitops, read, server, specs
from plinth.experience.cli.agents import agents_app
from plinth.experience.cli.approvals import approvals_app
from plinth.experience.cli.audit import audit_app
from plinth.experience.cli.authz import authz_app
from plinth.experience.cli.compliance import compliance_app
from plinth.experience.cli.context import CliState
from plinth.experience.cli.cost import cost_app
from plinth.experience.cli.cost_billing import register as register_billing
from plinth.experience.cli.gpus import gpus_app
from plinth.experience.cli.janitor import janitor_app, rightsize
from plinth.experience.cli.kueue import kueue_app
from plinth.experience.cli.llm import llm_app
from plinth.experience.cli.mcp import mcp_cli
from plinth.experience.cli.models import models_app
from plinth.experience.cli.policy import policy_app
from plinth.experience.cli.providers import providers_app
from plinth.experience.cli.secrets import secrets_app
from plinth.experience.cli.snapshots import snapshot_app
from plinth.experience.cli.templates import templates_app
from plinth.experience.cli.webhooks import webhooks_app

__all__ = ["app"]

EPILOG = (
    "Connection: --url/--token, else PLINTH_URL/PLINTH_TOKEN, else the config file "
    "(PLINTH_CLI_CONFIG, ./.plinth/cli.yaml, ~/.config/plinth/cli.yaml) written by `plinth up`.\n\n"
    "Exit codes: 0 ok; 1 error (server, network, conflict, unauthenticated); "
    "2 not found or invalid input; 3 denied by a gate or forbidden; 4 waiting for approval."
)

app = typer.Typer(
    name="plinth",
    help="Plinth: plan, apply and observe your platform through one API.",
    epilog=EPILOG,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        try:
            typer.echo(f"plinth {version('plinth')}")
        except PackageNotFoundError:
            typer.echo("plinth (unknown version)")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    url: Annotated[
        str | None, typer.Option("--url", help="Server URL (default from env or config file).")
    ] = None,
    token: Annotated[str | None, typer.Option("--token", help="Bearer token to use.")] = None,
    as_user: Annotated[
        str | None, typer.Option("--as", help="Act as another user from the config file.")
    ] = None,
    show_version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    """Plinth: plan, apply and observe your platform through one API."""
    state = ctx.ensure_object(CliState)
    state.url = url or state.url
    state.token = token or state.token
    state.as_user = as_user or state.as_user
    ctx.call_on_close(state.close)


specs.register(app)
read.register(app)
app.add_typer(templates_app, name="templates")
app.add_typer(approvals_app, name="approvals")
app.add_typer(audit_app, name="audit")
app.add_typer(compliance_app, name="compliance")
register_billing(cost_app)
app.add_typer(cost_app, name="cost")
app.add_typer(janitor_app, name="janitor")
app.add_typer(secrets_app, name="secrets")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(snapshot_app, name="snapshot")
app.add_typer(agents_app, name="agents")
app.add_typer(mcp_cli, name="mcp")
app.add_typer(models_app, name="models")
app.add_typer(authz_app, name="authz")
app.add_typer(policy_app, name="policy")
app.add_typer(providers_app, name="providers")
app.add_typer(gpus_app, name="gpus")
app.add_typer(kueue_app, name="kueue")
app.add_typer(llm_app, name="llm")
app.command("rightsize")(rightsize)
server.register(app)
dora.register(app)
demo.register(app)
gitops.register(app)
backstage.register(app)


if __name__ == "__main__":
    app()
