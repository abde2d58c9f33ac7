"""The VM walkthrough of docs/vms.md, as tests: a service reaches a VM; a killed VM heals.

A Score workload declares a ``vm`` resource booting the test guest of
``scripts/build-test-guest.sh``; the service gets the VM's URL through
``${resources.legacy.url}`` and answers with what the guest serves. The second test takes
the template path of the walkthrough: a platform engineer publishes
``examples/vm-legacy/template.yaml``, a developer applies ``examples/vm-legacy/app.yaml`` in
dev, and the rendered service reaches the rendered VM through the same placeholder.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from tests.e2e.helpers import workload_ready
from tests.support import REPO, start_server, wait_until

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-system-x86_64") is None, reason="qemu-system-x86_64 is not installed"
)

PLINTH = str(Path(sys.executable).parent / "plinth")

# The service: GET / fetches the VM's page through LEGACY_URL and wraps it.
PROXY = """
import http.server, os, urllib.request
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = urllib.request.urlopen(os.environ["LEGACY_URL"] + self.path, timeout=10).read()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"front says: " + body)
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


def _score(guest: Path) -> str:
    proxy = PROXY.replace("\n", "\\n").replace('"', '\\"')
    return f"""\
apiVersion: score.dev/v1b1
metadata:
  name: front
  annotations:
    plinth.dev/owner: ada
    plinth.dev/ttl: 7d
service:
  ports:
    web:
      port: 8080
containers:
  main:
    image: exec:python3
    command: ["{sys.executable}", "-c", "{proxy}"]
    variables:
      LEGACY_URL: ${{resources.legacy.url}}
resources:
  legacy:
    type: vm
    params:
      image:
        kernel: {guest / "vmlinuz"}
        initrd: {guest / "initrd.cpio.gz"}
      memory: 160Mi
      ports:
        http: 80
      health:
        port: http
        http_path: /healthz
      user_data: |
        echo "legacy backend v1" > /www/version.txt
      boot_timeout_seconds: 240
"""


def _qemu_pids(data_dir: Path) -> list[int]:
    wanted = str(data_dir.resolve())
    pids = []
    for proc in psutil.process_iter(["pid", "name"]):
        try:
            ours = proc.info["name"] == "qemu-system-x86_64"
            if ours and proc.environ().get("PLINTH_DATA_DIR") == wanted:
                pids.append(proc.info["pid"])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return pids


def test_service_reaches_vm_and_vm_heals(tmp_path: Path) -> None:
    """Apply in dev, reach the VM through the service, kill QEMU, watch it come back."""
    guest = tmp_path / "guest"
    script = REPO / "scripts" / "build-test-guest.sh"
    cache = REPO / ".cache" / "guest"
    subprocess.run([str(script), str(cache)], check=True, capture_output=True, timeout=600)
    shutil.copytree(cache, guest)
    score = tmp_path / "front.score.yaml"
    score.write_text(_score(guest))
    data_dir = tmp_path / "data"
    with start_server(data_dir) as server, server.client("ada") as api:
        env = server.cli_env("ada")
        applied = subprocess.run(
            [PLINTH, "apply", "-f", str(score), "--env", "dev", "--yes"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=REPO,
        )
        assert applied.returncode == 0, applied.stdout + applied.stderr
        ready = wait_until(lambda: workload_ready(api, "front"), timeout=120, what="front ready")
        by_type = {r["type"]: r for r in ready["resources"]}
        assert by_type["vm"]["outputs"]["accelerator"] in ("kvm", "tcg")
        url = by_type["service"]["outputs"]["url"]
        assert "plinth test guest" in httpx.get(url + "/", timeout=20).text
        assert httpx.get(url + "/version.txt", timeout=20).text == "front says: legacy backend v1\n"

        logs = subprocess.run(
            [PLINTH, "logs", "front", "--env", "dev"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )
        assert "plinth-guest: httpd serving on port 80" in logs.stdout, logs.stdout + logs.stderr

        before = _qemu_pids(data_dir)
        assert len(before) == 1
        os.kill(before[0], signal.SIGKILL)

        def healed() -> bool:
            pids = _qemu_pids(data_dir)
            if not pids or pids == before or workload_ready(api, "front") is None:
                return False
            try:
                return "plinth test guest" in httpx.get(url + "/", timeout=20).text
            except httpx.HTTPError:
                return False  # the new QEMU runs but the guest is still booting

        wait_until(healed, timeout=180, what="reconcile to restart the killed VM")

        def repair_recorded() -> bool:
            # The guest answers before the reconciler's apply returns and records the repair
            # ("Repaired" when it found the VM dead; "Updated" when a first restart failed
            # on a loaded machine and a later one brought it back).
            described = api.get("/api/v1/workloads/front/describe", params={"environment": "dev"})
            return any(
                e["reason"] in ("Repaired", "Updated") and "vm not running" in e["message"]
                for e in described.json()["events"]
            )

        wait_until(repair_recorded, timeout=120, what="the repair on the workload's events")


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the plinth CLI; fail the test with its output when it does not exit with 0."""
    done = subprocess.run(
        [PLINTH, *args], env=env, capture_output=True, text=True, timeout=300, cwd=REPO
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_template_wires_service_to_vm(tmp_path: Path) -> None:
    """Publish examples/vm-legacy's template, apply its Application in dev, reach the VM."""
    cache = REPO / ".cache" / "guest"
    script = REPO / "scripts" / "build-test-guest.sh"
    subprocess.run([str(script), str(cache)], check=True, capture_output=True, timeout=600)
    example = REPO / "examples" / "vm-legacy"
    template = tmp_path / "legacy-template.yaml"
    template.write_text(
        (example / "template.yaml").read_text().replace("@GUEST_DIR@", str(cache.resolve()))
    )
    data_dir = tmp_path / "data"
    with start_server(data_dir) as server, server.client("ada") as api:
        _cli(server.cli_env("pat"), "apply", "-f", str(template), "--env", "dev", "--yes")
        shown = _cli(server.cli_env("ada"), "templates", "show", "legacy-backed-service")
        assert "vcpus" in shown.stdout
        _cli(
            server.cli_env("ada"), "apply", "-f", str(example / "app.yaml"), "--env", "dev", "--yes"
        )
        ready = wait_until(
            lambda: workload_ready(api, "billing"), timeout=240, what="billing ready"
        )
        assert ready["template"] == "legacy-backed-service"
        by_type = {r["type"]: r for r in ready["resources"]}
        vm_url = by_type["vm"]["outputs"]["url"]
        url = by_type["service"]["outputs"]["url"]
        # The service got the VM's address through ${resources.legacy.url}: its answers
        # are the guest's pages, and the first boot's user_data wrote the data disk.
        assert "plinth test guest" in httpx.get(url + "/", timeout=20).text
        assert httpx.get(vm_url + "/disks.txt", timeout=20).text == "vda: written by release 1\n"
        disks = httpx.get(url + "/disks.txt", timeout=20).text
        assert disks == "front says: vda: written by release 1\n"
        described = api.get("/api/v1/workloads/billing/describe", params={"environment": "dev"})
        annotations = described.json()["document"]["metadata"]["annotations"]
        assert annotations["plinth.dev/owner"] == "ada"
        assert annotations["plinth.dev/ttl"] == "7d"
        assert len(_qemu_pids(data_dir)) == 1
    assert _qemu_pids(data_dir) == []
