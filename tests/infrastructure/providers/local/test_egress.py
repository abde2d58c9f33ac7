"""Egress control: real network namespaces, real sockets, real HTTP servers on the host."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.local import egress
from plinth.infrastructure.providers.local.egress import Allowed, namespace_name, parse_allow
from plinth.infrastructure.providers.local.layout import Layout
from plinth.infrastructure.providers.local.provider import LocalProvider

from .local_provider_helpers import make_resource, wait_for

PROBE = r"""
import ctypes, json, os, socket, sys

def fetch(host, port):
    try:
        with socket.create_connection((host, port), timeout=3) as sock:
            sock.sendall(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
        return data.split(b"\r\n\r\n", 1)[-1].decode()
    except OSError as exc:
        return f"error:{exc.errno}"

def resolve(name):
    try:
        return socket.getaddrinfo(name, 80, socket.AF_INET)[0][4][0]
    except OSError:
        return "error"

def escape():
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        fd = os.open("/proc/1/ns/net", os.O_RDONLY)
    except OSError as exc:
        return f"error:{exc.errno}"
    return "escaped" if libc.setns(fd, 0x40000000) == 0 else f"error:{ctypes.get_errno()}"

checks = json.loads(os.environ["CHECKS"])
result = {key: fetch(host, port) for key, (host, port) in checks.items()}
result["resolve_example"] = resolve("example.com")
result["escape"] = escape()
print("RESULT " + json.dumps(result), flush=True)
"""


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = str(getattr(self.server, "body", "")).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def serve() -> Iterator[Callable[[str, str], int]]:
    """Start HTTP servers that answer ``body``; return a function that starts one."""
    servers: list[ThreadingHTTPServer] = []

    def start(address: str, body: str) -> int:
        server = ThreadingHTTPServer((address, 0), _Handler)
        server.body = body  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return int(server.server_address[1])

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def namespaces_work() -> None:
    """Skip unless this process may create network namespaces."""
    if os.geteuid() != 0:
        pytest.skip("egress control needs root (CAP_SYS_ADMIN) to create network namespaces")
    probe = "plinth-probe-egress"
    done = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"'ip netns add' fails here: {done.stderr.strip()}")
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True, check=False)


@pytest.fixture
def layout(data_dir: Path) -> Iterator[Layout]:
    """The session's layout; every namespace created under it is removed at the end."""
    layout = Layout(data_dir)
    yield layout
    egress.remove_all(layout)


def _host_address() -> str | None:
    done = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True
    )
    for line in done.stdout.splitlines():
        parts = line.split()
        if "inet" in parts:
            return parts[parts.index("inet") + 1].split("/")[0]
    return None


def _resolves(name: str) -> bool:
    """Return whether ``name`` is a host name that resolves on this machine."""
    try:
        parse_allow([f"{name}:1"])
        return bool(socket.getaddrinfo(name, None))
    except (PermanentError, OSError):
        return False


def _probe_job(rid: str, allow: list[str], checks: dict[str, tuple[str, int]]) -> Any:
    spec = {
        "containers": {
            "probe": {
                "image": "py:probe",
                "command": [sys.executable, "probe.py"],
                "env": {"CHECKS": json.dumps(checks)},
                "files": [{"target": "probe.py", "content": PROBE}],
            }
        },
        "egress": {"allow": allow},
    }
    return make_resource(rid, "job", spec, name=rid)


def _run_probe(provider: LocalProvider, resource: Any) -> dict[str, str]:
    provider.apply(resource, {})
    wait_for(lambda: provider.observe(resource, {}).phase in ("succeeded", "failed"))
    lines = [line for line in provider.logs(resource, {}, tail=50) if "RESULT " in line]
    assert lines, provider.logs(resource, {}, tail=50)
    result: dict[str, str] = json.loads(lines[-1].split("RESULT ", 1)[1])
    return result


def test_parse_allow_accepts_hosts_ports_and_addresses() -> None:
    assert parse_allow(["API.example.com.:8443", "localhost:8000", "[::1]:9000", "10.0.0.5"]) == [
        Allowed("api.example.com", 8443),
        Allowed("localhost", 8000),
        Allowed("::1", 9000),
        Allowed("10.0.0.5", 80),
        Allowed("10.0.0.5", 443),
    ]
    assert parse_allow(["a.example:1", "a.example:1"]) == [Allowed("a.example", 1)]


@pytest.mark.parametrize("entry", ["*.example.com", "a:0", "a:70000", "[zz]:1", "http://x", ""])
def test_parse_allow_refuses_bad_entries(entry: str) -> None:
    with pytest.raises(PermanentError, match=r"spec\['egress'\]\['allow'\]\[0\]"):
        parse_allow([entry])


def test_namespace_names_are_stable_and_distinct(tmp_path: Path) -> None:
    first = namespace_name(tmp_path, "res_a")
    assert first == namespace_name(tmp_path, "res_a")
    assert first != namespace_name(tmp_path, "res_b")
    assert first != namespace_name(tmp_path / "other", "res_a")


@pytest.mark.usefixtures("namespaces_work")
def test_a_job_reaches_only_its_allowed_hosts(
    provider: LocalProvider, layout: Layout, serve: Callable[[str, str], int]
) -> None:
    allowed = serve("127.0.0.1", "allowed")
    other = serve("127.0.0.1", "other")
    checks: dict[str, tuple[str, int]] = {
        "loopback": ("127.0.0.1", allowed),
        "localhost": ("localhost", allowed),
        "other_port": ("127.0.0.1", other),
        "outside": ("192.0.2.1", 80),
    }
    allow = [f"localhost:{allowed}"]
    address = _host_address()
    if address is not None:
        on_host = serve(address, "on-host")
        checks["host_ip"] = (address, on_host)
        checks["host_ip_other_port"] = (address, other)
        allow.append(f"{address}:{on_host}")
    name = socket.gethostname().lower()
    if _resolves(name):
        checks["by_name"] = (name, allowed)
        allow.append(f"{name}:{allowed}")
    job = _probe_job("res_egress_job", allow, checks)
    try:
        result = _run_probe(provider, job)
        assert result["loopback"] == result["localhost"] == "allowed"
        assert result["other_port"].startswith("error:")
        assert result["outside"].startswith("error:")
        assert result["resolve_example"] == "error"
        assert result["escape"].startswith("error:")
        if address is not None:
            assert result["host_ip"] == "on-host"
            assert result["host_ip_other_port"].startswith("error:")
        if "by_name" in checks:
            assert result["by_name"] == "allowed"

        widened = _probe_job("res_egress_job", [f"127.0.0.1:{other}"], checks)
        result = _run_probe(provider, widened)
        assert result["other_port"] == "other"
        assert result["loopback"].startswith("error:")
    finally:
        provider.destroy(job, {})
    ns = namespace_name(layout.root, job.id)
    assert not (egress.NETNS_DIR / ns).exists()
    assert not (egress.ETC_NETNS_DIR / ns).exists()


@pytest.mark.usefixtures("namespaces_work")
def test_a_confined_service_publishes_its_ports(provider: LocalProvider, layout: Layout) -> None:
    spec: dict[str, Any] = {
        "containers": {"web": {"image": "py:plinth_demo.webapp"}},
        "ports": [{"name": "http", "port": 8080}],
        "healthcheck": {"http": {"path": "/healthz", "port": "http"}},
        "egress": {"allow": []},
    }
    service = make_resource("res_egress_web", "service", spec)
    ns = namespace_name(layout.root, service.id)
    try:
        observed = provider.apply(service, {})
        assert observed.phase == "running" and observed.healthy
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(observed.outputs["url"] + "/healthz", timeout=5) as response:
            assert response.status == 200
        assert (egress.NETNS_DIR / ns).exists()

        unconfined = make_resource("res_egress_web", "service", {**spec, "egress": None})
        again = provider.apply(unconfined, observed.state)
        assert again.healthy and not (egress.NETNS_DIR / ns).exists()
    finally:
        provider.destroy(service, {})
    assert not (egress.NETNS_DIR / ns).exists()


@pytest.mark.usefixtures("namespaces_work")
def test_without_privileges_the_workload_fails_and_never_runs(tmp_path: Path) -> None:
    script = r"""
import json, sys
from pathlib import Path
from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.base import ProviderContext, Resource
from plinth.infrastructure.providers.local.provider import LocalProvider
provider = LocalProvider(ProviderContext(data_dir=Path(sys.argv[1]), secret_key=b"k" * 32))
spec = {"containers": {"m": {"image": "py:x", "command": ["touch", sys.argv[2]]}},
        "egress": {"allow": ["localhost:1"]}}
job = Resource(id="res_np", type="job", name="np", environment="dev", project="p", spec=spec)
try:
    provider.apply(job, {})
    print("STARTED")
except PermanentError as exc:
    print("REFUSED " + str(exc))
"""
    marker = tmp_path / "ran"
    data_dir = tmp_path / "data"
    drop = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"]
    done = subprocess.run(
        [*drop, sys.executable, "-c", script, str(data_dir), str(marker)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        assert "REFUSED" in done.stdout, done.stdout + done.stderr
        assert "needs root" in done.stdout
        assert not marker.exists()
        assert not (egress.NETNS_DIR / namespace_name(data_dir, "res_np")).exists()
    finally:
        egress.remove_all(Layout(data_dir))
