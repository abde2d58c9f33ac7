"""Egress control: a workload whose spec has ``egress: {allow: [...]}`` reaches only those hosts.

Each such resource gets its own network namespace (``ip netns``) that holds
nothing but a loopback interface: no veth, no route, so the kernel refuses every
connection the namespace did not arrange. For each allowed ``host:port`` a small
relay (this module run as a program, the parent of the workload's process)
listens on an address inside the namespace and opens the real connection from
the host's namespace:

- an IP address listens on that same address (added to the namespace's
  loopback), so ``10.1.2.3:5432`` or ``127.0.0.1:8000`` works unchanged; the
  namespace's loopback stands in for the host's, so an allowed
  ``localhost:8000`` reaches the control plane's ``127.0.0.1:8000``;
- a name gets an address of its own in ``127.77.0.0/16``, written into the
  namespace's ``/etc/hosts`` (``ip netns exec`` mounts ``/etc/netns/<ns>/hosts``
  there); the relay resolves the name on the host when a connection is opened.

The ports a service publishes are relayed the other way: the relay listens on
the host's ``127.0.0.1:<port>`` once the workload listens on the same port inside.
The workload runs with no capabilities (``setpriv``), so it cannot leave the
namespace. Setting this up needs root (CAP_SYS_ADMIN); when it fails the
resource fails with a ``PermanentError`` and nothing runs unconfined.
See ``docs/egress.md``.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.base import Resource
from plinth.infrastructure.providers.local.layout import Layout, read_json, write_json_atomic

__all__ = [
    "DEFAULT_PORTS",
    "MAX_ENTRIES",
    "Allowed",
    "main",
    "namespace_name",
    "parse_allow",
    "prepare",
    "remove",
    "remove_all",
]

DEFAULT_PORTS = (80, 443)
"""The ports of an entry written without one (``api.example.com`` means ports 80 and 443)."""
MAX_ENTRIES = 256
NETNS_DIR = Path("/run/netns")
ETC_NETNS_DIR = Path("/etc/netns")
CONNECT_TIMEOUT_S = 10.0
_CLONE_NEWNET = 0x40000000
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")
_HOST_PORT = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]]+))(?::(?P<port>[0-9]{1,5}))?$")
_NAMES_NET = ipaddress.ip_network("127.77.0.0/16")
_RELAY = f"import sys; from {__name__} import main; sys.exit(main())"


@dataclass(frozen=True)
class Allowed:
    """One allowed destination: a host name or IP address and a TCP port."""

    host: str
    port: int


def _program(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if found is None:
        raise PermanentError(f"egress control needs the {name!r} program, which is not installed")
    return found


def parse_allow(entries: Sequence[Any]) -> list[Allowed]:
    """Return the destinations of an allow-list (``host``, ``host:port``, ``[v6]:port``)."""
    if len(entries) > MAX_ENTRIES:
        raise PermanentError(f"egress allow-list has {len(entries)} entries; at most {MAX_ENTRIES}")
    result: list[Allowed] = []
    for index, entry in enumerate(entries):
        where = f"spec['egress']['allow'][{index}]"
        text = str(entry).strip().lower()
        literal = _ip(text)
        match = None if literal else _HOST_PORT.match(text)
        if literal is None and match is None:
            raise PermanentError(f"{where}: {entry!r} is not 'host', 'host:port' or '[ipv6]:port'")
        host = literal or (match.group("v6") or match.group("host").rstrip(".") if match else "")
        if match and match.group("v6") and _ip(host) is None:
            raise PermanentError(f"{where}: {host!r} in brackets is not an IPv6 address")
        if _ip(host) is None and not _NAME.match(host):
            raise PermanentError(f"{where}: {host!r} is not a host name (no wildcards)")
        port_text = match.group("port") if match else None
        ports = [int(port_text)] if port_text else list(DEFAULT_PORTS)
        if not all(1 <= p <= 65535 for p in ports):
            raise PermanentError(f"{where}: port must be between 1 and 65535")
        result += [Allowed(str(_ip(host) or host), p) for p in ports]
    return list(dict.fromkeys(result))


def _ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def namespace_name(data_dir: Path | str, resource_id: str) -> str:
    """Return the network namespace name of a resource (stable, distinct per data dir)."""
    key = f"{Path(data_dir).resolve()}\0{resource_id}".encode()
    return "plinth-" + hashlib.sha256(key).hexdigest()[:12]


def _plan(name: str, allowed: Sequence[Allowed], publish: Sequence[int]) -> dict[str, Any]:
    """Return the namespace's configuration: loopback addresses, hosts file, relays."""
    literals = {a.host for a in allowed if _ip(a.host)}
    free = (str(ip) for ip in _NAMES_NET.hosts() if str(ip) not in literals)
    names: dict[str, str] = {"localhost": "127.0.0.1"}
    forward: dict[tuple[str, int], str] = {}
    for item in allowed:
        if _ip(item.host) is None and item.host not in names:
            names[item.host] = next(free)
        listen = _ip(item.host) or names[item.host]
        forward.setdefault((listen, item.port), item.host)
    extra = sorted({a for a, _ in forward if not ipaddress.ip_address(a).is_loopback})
    return {
        "netns": name,
        "addresses": extra,
        "hosts": names,
        "forward": [{"listen": a, "port": p, "host": h} for (a, p), h in forward.items()],
        "publish": sorted(set(publish)),
    }


def _registry(layout: Layout) -> Path:
    return layout.root / "egress"


def _run_ip(*args: str) -> None:
    done = subprocess.run(
        [_program("ip"), *args], capture_output=True, text=True, check=False, timeout=30
    )
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise PermanentError(
            f"egress control could not set up network namespace ({' '.join(args[:3])}: "
            f"{detail[-1] if detail else 'exit ' + str(done.returncode)}); it needs root "
            "(CAP_SYS_ADMIN and CAP_NET_ADMIN); the workload was not started"
        )


def _create(config: Mapping[str, Any]) -> None:
    name = str(config["netns"])
    _run_ip("netns", "add", name)
    _run_ip("-n", name, "link", "set", "lo", "up")
    for address in config["addresses"]:
        bits = 32 if ipaddress.ip_address(address).version == 4 else 128
        extra = ["nodad"] if bits == 128 else []
        _run_ip("-n", name, "addr", "add", f"{address}/{bits}", "dev", "lo", *extra)
    etc = ETC_NETNS_DIR / name
    etc.mkdir(parents=True, exist_ok=True)
    lines = [f"{address} {host}" for host, address in config["hosts"].items()]
    (etc / "hosts").write_text("\n".join(lines) + "\n")


def prepare(layout: Layout, resource: Resource, *, ports: Mapping[str, int]) -> list[str]:
    """Set up the resource's namespace; return the argv prefix that runs a command in it.

    Returns an empty prefix (and removes any namespace left from before) when
    the spec has no ``egress``. Idempotent: an existing namespace with the same
    configuration is kept, one with another is replaced.

    Raises:
        PermanentError: the allow-list is invalid, or the namespace cannot be set up.
    """
    egress = resource.spec.get("egress")
    if not isinstance(egress, Mapping):
        remove(layout, resource.id)
        return []
    allowed = parse_allow(list(egress.get("allow") or []))
    setpriv = _program("setpriv")
    name = namespace_name(layout.root, resource.id)
    config = {**_plan(name, allowed, list(ports.values())), "resource": resource.id}
    path = _registry(layout) / f"{name}.json"
    if read_json(path) != config or not (NETNS_DIR / name).exists():
        remove(layout, resource.id)
        try:
            write_json_atomic(path, config)
            _create(config)
        except BaseException:
            remove(layout, resource.id)
            raise
    return [sys.executable, "-c", _RELAY, str(path), _program("ip"), setpriv, "--"]


def remove(layout: Layout, resource_id: str) -> None:
    """Delete the resource's namespace and its files; succeed when there is none."""
    name = namespace_name(layout.root, resource_id)
    if (NETNS_DIR / name).exists():
        subprocess.run(
            [_program("ip"), "netns", "delete", name], capture_output=True, check=False, timeout=30
        )
    shutil.rmtree(ETC_NETNS_DIR / name, ignore_errors=True)
    (_registry(layout) / f"{name}.json").unlink(missing_ok=True)


def remove_all(layout: Layout) -> None:
    """Delete every namespace the provider of ``layout`` created."""
    for path in sorted(_registry(layout).glob("plinth-*.json")):
        record = read_json(path)
        if isinstance(record, dict) and isinstance(record.get("resource"), str):
            remove(layout, record["resource"])
        path.unlink(missing_ok=True)


# --- the relay: ``python -c <_RELAY> <config> <ip> <setpriv> -- <command...>`` ---


class _Netns:
    """Switches the calling thread between the host's namespace and the workload's."""

    def __init__(self, name: str) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.host = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        self.inner = os.open(str(NETNS_DIR / name), os.O_RDONLY)

    def _enter(self, fd: int) -> None:
        if self.libc.setns(fd, _CLONE_NEWNET) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"setns: {os.strerror(code)}")

    def socket_inside(self, family: int) -> socket.socket:
        """Return a new TCP socket that lives in the workload's namespace."""
        self._enter(self.inner)
        try:
            return socket.socket(family, socket.SOCK_STREAM)
        finally:
            self._enter(self.host)


def _listen(sock: socket.socket, address: str, port: int) -> socket.socket:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((address, port))
    sock.listen(64)
    return sock


def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _pipe(a: socket.socket, b: socket.socket) -> None:
    def copy(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for end, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
                with contextlib.suppress(OSError):
                    end.shutdown(how)

    other = threading.Thread(target=copy, args=(b, a), daemon=True)
    other.start()
    copy(a, b)
    other.join()
    a.close()
    b.close()


def _serve(listener: socket.socket, connect: Any) -> None:
    def bridge(conn: socket.socket) -> None:
        try:
            upstream = connect()
        except OSError:
            conn.close()
            return
        _pipe(conn, upstream)

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=bridge, args=(conn,), daemon=True).start()


def _connect_inside(ns: _Netns, port: int) -> socket.socket:
    sock = ns.socket_inside(socket.AF_INET)
    try:
        sock.settimeout(CONNECT_TIMEOUT_S)
        sock.connect(("127.0.0.1", port))
        sock.settimeout(None)
    except OSError:
        sock.close()
        raise
    return sock


def _publish(ns: _Netns, port: int) -> None:
    """Wait until the workload listens on ``port`` inside; then relay the host's port to it."""
    while True:
        try:
            _connect_inside(ns, port).close()
            break
        except OSError:
            time.sleep(0.05)
    listener = _listen(socket.socket(socket.AF_INET, socket.SOCK_STREAM), "127.0.0.1", port)
    _serve(listener, lambda: _connect_inside(ns, port))


def _start_relays(config: Mapping[str, Any], ns: _Netns) -> None:
    for item in config["forward"]:
        address, port, host = str(item["listen"]), int(item["port"]), str(item["host"])
        listener = _listen(ns.socket_inside(_family(address)), address, port)

        def connect(host: str = host, port: int = port) -> socket.socket:
            sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
            sock.settimeout(None)
            return sock

        threading.Thread(target=_serve, args=(listener, connect), daemon=True).start()
    for port in config["publish"]:
        threading.Thread(target=_publish, args=(ns, int(port)), daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the relay and the workload in its namespace; return the workload's exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 5 or args[3] != "--":
        print("usage: egress <config.json> <ip> <setpriv> -- <command...>", file=sys.stderr)
        return 2
    config, ip, setpriv, command = read_json(Path(args[0])), args[1], args[2], args[4:]
    try:
        if not isinstance(config, dict):
            raise OSError(f"egress configuration {args[0]} is missing")
        ns = _Netns(str(config["netns"]))
        _start_relays(config, ns)
    except OSError as exc:
        print(f"plinth egress: {exc}; the workload was not started", file=sys.stderr, flush=True)
        return 126
    drop = ["--inh-caps=-all", "--bounding-set=-all", "--"]
    child = subprocess.Popen([ip, "netns", "exec", str(config["netns"]), setpriv, *drop, *command])
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda number, _frame: child.send_signal(number))
    code = child.wait()
    return code if code >= 0 else 128 - code
