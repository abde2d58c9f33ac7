"""``plinth models``: register signed model versions, list, show and verify them, manage trust.

Signing happens here, on the client, with ``model-signing`` (offline, EC key or
certificate): only the signature bundle is uploaded, never the private key. A model
directory is uploaded as a tar.gz of that directory.
"""

from __future__ import annotations

import json
import tarfile
import tempfile
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from plinth.capabilities.models.signing import sign_artifact
from plinth.core.errors import InvalidInput, PlinthError
from plinth.experience.cli.client import API_PREFIX, Unreachable, problem_to_error
from plinth.experience.cli.context import (
    EXIT_ERROR,
    AllOption,
    CliState,
    LimitOption,
    OutputOption,
    guarded,
    state_of,
)
from plinth.experience.cli.output import OutputFormat, print_data, print_object, print_table
from plinth.experience.cli.read import list_items, show_list

__all__ = ["lineage_of", "models_app"]

models_app = typer.Typer(
    help="The model registry: immutable, signed model versions with lineage.",
    no_args_is_help=True,
)
trust_app = typer.Typer(
    help="Keys and CA certificates that model signatures must chain to.", no_args_is_help=True
)
models_app.add_typer(trust_app, name="trust")

_VERSION_COLUMNS = ("ref", "digest", "signer", "stage", "created_by")
_TRUST_COLUMNS = ("name", "kind", "fingerprint", "subject")

PemFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="PEM file.")]


def lineage_of(
    *,
    training_job: str | None,
    dataset: str | None,
    dataset_digest: str | None,
    code_revision: str | None,
    parent: str | None,
    params: list[str],
) -> dict[str, Any]:
    """Return the lineage object the API expects from the ``--lineage-*`` options."""
    hyper: dict[str, Any] = {}
    for item in params:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--lineage-param wants KEY=VALUE, got {item!r}")
        try:
            hyper[key] = json.loads(raw)
        except ValueError:
            hyper[key] = raw
    data: dict[str, Any] = {
        "training_job": training_job,
        "code_revision": code_revision,
        "parent": parent,
        "hyperparameters": hyper,
    }
    if dataset:
        data["dataset"] = {"uri": dataset, **({"digest": dataset_digest} if dataset_digest else {})}
    return {k: v for k, v in data.items() if v}


def _post_multipart(state: CliState, path: str, data: dict[str, str], files: dict[str, Any]) -> Any:
    config = state.config()
    headers = {"Accept": "application/json", "User-Agent": "plinth-cli"}
    if config.token:
        headers["Authorization"] = f"Bearer {config.token}"
    try:
        with httpx.Client(
            base_url=config.url, headers=headers, transport=state.transport, timeout=600.0
        ) as http:
            response = http.post(API_PREFIX + path, data=data, files=files)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise Unreachable(f"cannot reach Plinth at {config.url}: {exc}") from exc
    except httpx.HTTPError as exc:
        raise PlinthError(f"upload to {config.url} failed: {exc}") from exc
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = {"detail": response.text.strip()[:500]}
    if response.is_error:
        raise problem_to_error(response.status_code, body)
    return body


def _signature(
    artifact: Path,
    sign_key: Path | None,
    sign_cert: Path | None,
    sign_chain: Path | None,
    signature: Path | None,
) -> bytes | None:
    if sign_key is not None and signature is not None:
        raise InvalidInput("give --sign-key or --signature, not both")
    if signature is not None:
        return signature.read_bytes()
    if sign_key is None:
        return None
    bundle = sign_artifact(
        artifact,
        sign_key.read_bytes(),
        certificate_pem=sign_cert.read_bytes() if sign_cert else None,
        chain_pem=sign_chain.read_bytes() if sign_chain else None,
    )
    return json.dumps(bundle).encode()


@models_app.command("register")
@guarded
def register(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name, e.g. churn.")],
    version: Annotated[
        str, typer.Argument(help="Version, e.g. 1.2.0 (immutable once registered).")
    ],
    artifact: Annotated[
        Path, typer.Option("--artifact", exists=True, help="Model file or directory.")
    ],
    sign_key: Annotated[
        Path | None,
        typer.Option("--sign-key", exists=True, help="EC private key PEM: sign here, offline."),
    ] = None,
    sign_cert: Annotated[
        Path | None, typer.Option("--sign-cert", exists=True, help="Signing certificate PEM.")
    ] = None,
    sign_chain: Annotated[
        Path | None, typer.Option("--sign-chain", exists=True, help="CA chain PEM of the cert.")
    ] = None,
    signature: Annotated[
        Path | None, typer.Option("--signature", exists=True, help="Existing signature bundle.")
    ] = None,
    team: Annotated[str | None, typer.Option("--team", help="Owning team (new models).")] = None,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Project.")] = None,
    description: Annotated[str | None, typer.Option("--description", help="What it is.")] = None,
    training_job: Annotated[str | None, typer.Option("--lineage-training-job")] = None,
    dataset: Annotated[str | None, typer.Option("--lineage-dataset", help="Dataset URI.")] = None,
    dataset_digest: Annotated[str | None, typer.Option("--lineage-dataset-digest")] = None,
    code_revision: Annotated[str | None, typer.Option("--lineage-code-revision")] = None,
    parent: Annotated[str | None, typer.Option("--lineage-parent", help="NAME@VERSION.")] = None,
    params: Annotated[
        list[str] | None, typer.Option("--lineage-param", help="Hyperparameter KEY=VALUE.")
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Register a model version: sign it (--sign-key) or attach a signature, and upload it.

    Example:

      plinth models register churn 1.0.0 --artifact model.pkl --sign-key key.pem --team ml-research
    """
    bundle = _signature(artifact, sign_key, sign_cert, sign_chain, signature)
    lineage = lineage_of(
        training_job=training_job,
        dataset=dataset,
        dataset_digest=dataset_digest,
        code_revision=code_revision,
        parent=parent,
        params=params or [],
    )
    form = {"version": version, "archive": "true" if artifact.is_dir() else "false"}
    for key, value in (("team", team), ("project", project), ("description", description)):
        if value:
            form[key] = value
    if lineage:
        form["lineage"] = json.dumps(lineage)
    with tempfile.TemporaryDirectory(prefix="plinth-upload-") as tmp:
        upload = artifact
        if artifact.is_dir():
            upload = Path(tmp) / f"{artifact.resolve().name}.tar.gz"
            with tarfile.open(upload, "w:gz") as tar:
                tar.add(artifact, arcname=artifact.resolve().name)
        with upload.open("rb") as stream:
            files: dict[str, Any] = {"artifact": (upload.name, stream)}
            if bundle is not None:
                files["signature"] = ("model.sig", bundle)
            result = _post_multipart(state_of(ctx), f"/models/{name}/versions", form, files)
    if output is not OutputFormat.table:
        print_data(result, output)
        return
    print_object(result, title=f"Registered {result.get('ref')}")


@models_app.command("list")
@guarded
def list_models(
    ctx: typer.Context,
    output: OutputOption = OutputFormat.table,
    limit: LimitOption = 50,
    all_pages: AllOption = False,
) -> None:
    """List models with their team, stages and number of versions."""
    data = list_items(state_of(ctx).client(), "/models", limit=limit, all_pages=all_pages)
    show_list(data, ("name", "team", "project", "stages", "versions"), output)


@models_app.command("show")
@guarded
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str | None, typer.Argument(help="One version (with its bundle).")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Show a model and its versions, or one version with lineage and signature."""
    client = state_of(ctx).client()
    path = f"/models/{name}" + (f"/versions/{version}" if version else "")
    data = client.get(path)
    if output is not OutputFormat.table:
        print_data(data, output)
        return
    if version:
        shown = {k: v for k, v in data.items() if k != "signature"}
        print_object(shown, title=f"{name}@{version}")
        return
    print_object({k: v for k, v in data.items() if k != "versions"}, title=f"Model {name}")
    print_table(data.get("versions") or [], _VERSION_COLUMNS, empty="No versions yet.")


@models_app.command("verify")
@guarded
def verify(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version.")],
    output: OutputOption = OutputFormat.table,
) -> None:
    """Check now that a version's artifact is unchanged and its signature verifies (else exit 1)."""
    data = state_of(ctx).client().post(f"/models/{name}/versions/{version}/verify")
    if output is not OutputFormat.table:
        print_data(data, output)
    else:
        print_object(data, title=f"{name}@{version}: {'verified' if data.get('ok') else 'FAILED'}")
    if not data.get("ok"):
        raise typer.Exit(EXIT_ERROR)


@models_app.command("sign")
@guarded
def sign(
    artifact: Annotated[Path, typer.Argument(exists=True, help="Model file or directory.")],
    key: Annotated[Path, typer.Option("--key", exists=True, help="EC private key PEM.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the bundle.")],
    cert: Annotated[Path | None, typer.Option("--cert", exists=True)] = None,
    chain: Annotated[Path | None, typer.Option("--chain", exists=True)] = None,
) -> None:
    """Sign a model locally (offline) and write the signature bundle; nothing is uploaded."""
    bundle = _signature(artifact, key, cert, chain, None)
    out.write_bytes(bundle or b"")
    typer.echo(f"wrote {out}")


@trust_app.command("add")
@guarded
def trust_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name for this key or CA.")],
    pem: PemFile,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Trust an EC public key or a CA certificate for model signatures."""
    data = state_of(ctx).client().post("/model-trust", {"name": name, "pem": pem.read_text()})
    if output is not OutputFormat.table:
        print_data(data, output)
        return
    print_object(data, title=f"Trusted {name}")


@trust_app.command("list")
@guarded
def trust_list(ctx: typer.Context, output: OutputOption = OutputFormat.table) -> None:
    """List trusted keys and CA certificates."""
    show_list(state_of(ctx).client().get("/model-trust"), _TRUST_COLUMNS, output)


@trust_app.command("remove")
@guarded
def trust_remove(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Stop trusting a key or certificate: versions it signed no longer verify."""
    state_of(ctx).client().request("DELETE", f"/model-trust/{name}")
    typer.echo(f"removed trust root {name}")
