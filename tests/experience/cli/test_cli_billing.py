"""``plinth cost export|import|reconcile`` against a real billing API on loopback."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer
from tests.experience.api.billing_server import billing_server
from typer.testing import CliRunner, Result

from plinth.core.clock import FrozenClock
from plinth.core.config import Settings
from plinth.core.ids import SequentialIds
from plinth.experience.cli.context import CliState
from plinth.experience.cli.cost_billing import register

SAMPLE = Path(__file__).parents[2] / "capabilities" / "finops" / "fixtures"
SAMPLE_FILE = SAMPLE / "focus-1.0-sample-slice.csv"
SEPTEMBER = ["--start", "2024-09-01T00:00:00Z", "--end", "2024-10-01T00:00:00Z"]

Invoke = Callable[..., Result]


def cost_app() -> typer.Typer:
    """A ``cost`` command group holding only the billing commands."""
    app = typer.Typer(no_args_is_help=True)
    register(app)
    return app


@pytest.fixture
def invoke(
    settings: Settings, clock: FrozenClock, ids: SequentialIds, workdir: Path
) -> Iterator[Invoke]:
    """Run ``plinth cost ...`` as a demo user against a served platform."""
    with billing_server(settings, clock=clock, ids=ids) as server:

        def run(user: str, *args: str) -> Result:
            state = CliState(url=server.url, token=server.tokens[user])
            try:
                return CliRunner().invoke(cost_app(), list(args), obj=state)
            finally:
                state.close()  # the root command's callback does this in `plinth`

        yield run


def test_import_export_reconcile(invoke: Invoke, workdir: Path) -> None:
    first = invoke("pat", "import", str(SAMPLE_FILE), "--source", "sample", "--assume-utc")
    assert first.exit_code == 0, first.output + first.stderr
    assert "Imported 10 of 10 rows from sample" in first.stdout
    assert "3 warnings" in first.stdout and "row 8, ContractedCost" in first.stdout
    again = invoke("pat", "import", str(SAMPLE_FILE), "--source", "sample", "--assume-utc")
    assert "Imported 0 of 10 rows" in again.stdout and "10 already imported" in again.stdout

    exported = invoke("lee", "export", "--format", "focus", "-o", "focus.csv", *SEPTEMBER)
    assert exported.exit_code == 0, exported.stderr
    assert "Wrote 10 FOCUS rows to focus.csv" in exported.stderr
    rows = list(csv.DictReader(io.StringIO((workdir / "focus.csv").read_text(), newline="")))
    assert len(rows) == 10 and rows[0]["BillingPeriodStart"].endswith("Z")
    to_stdout = invoke("lee", "export", "-o", "-", *SEPTEMBER)
    assert to_stdout.stdout.splitlines()[0].startswith("AvailabilityZone,BilledCost,")

    as_csv = invoke("ada", "reconcile", *SEPTEMBER, "-o", "csv")
    lines = list(csv.DictReader(io.StringIO(as_csv.stdout, newline="")))
    assert lines and {line["status"] for line in lines} == {"not_metered"}
    as_json = json.loads(invoke("ada", "reconcile", *SEPTEMBER, "-o", "json").stdout)
    assert len(as_json["items"]) == len(lines) and as_json["next_page_token"] is None
    table = invoke("ada", "reconcile", *SEPTEMBER)
    assert table.exit_code == 0 and "Total USD: expected 0, billed" in table.stdout


def test_a_refused_import_names_rows_and_imports_nothing(invoke: Invoke) -> None:
    refused = invoke("pat", "import", str(SAMPLE_FILE))
    assert refused.exit_code == 2
    assert "Import refused, nothing imported" in refused.stderr
    assert "focus-1.0-sample-slice.csv: row 2, BillingPeriodEnd:" in refused.stderr
    assert "has no time zone" in refused.stderr
    empty = json.loads(invoke("pat", "reconcile", *SEPTEMBER, "-o", "json").stdout)
    assert empty["items"] == []


def test_import_needs_a_platform_engineer_and_a_file(invoke: Invoke) -> None:
    denied = invoke("ada", "import", str(SAMPLE_FILE), "--assume-utc")
    assert denied.exit_code == 3 and "platform-engineer" in denied.stderr
    missing = invoke("pat", "import", "nope.csv")
    assert missing.exit_code == 2 and "no such file: nope.csv" in missing.stderr
    naive = invoke("pat", "export", "-o", "x.csv", "--start", "2024-09-01T00:00:00")
    assert naive.exit_code == 2 and "time zone" in naive.stderr
