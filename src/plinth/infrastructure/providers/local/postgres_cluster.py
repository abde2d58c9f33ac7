"""The provider's own PostgreSQL cluster: one per data directory, made from the machine's binaries.

Binaries are looked up in this order: the ``postgres_bin_dir`` setting (only
there, when it is set), ``pg_config --bindir``, the newest
``/usr/lib/postgresql/*/bin``, then ``PATH``. The cluster is created with
``initdb`` (local connections trusted, TCP connections with SCRAM passwords),
listens on 127.0.0.1 on a free port and on a Unix socket inside its own
directory, and logs to ``postgres.log`` there. It keeps running when the
control plane stops; ``stop`` (and ``stop_local_runtime``) stops it.

PostgreSQL refuses to run as root: when the control plane is root, the server
runs as the ``postgres`` system user, and if that user cannot reach the data
directory (a private temporary directory, for instance) the cluster lives in
``/var/tmp/plinth-pg-<hash of the data directory>`` instead.
``<data_dir>/postgres/cluster.json`` records where it is and its port.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import os
import pwd
import re
import shutil
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from plinth.core.errors import PermanentError, TemporaryError
from plinth.infrastructure.providers.local.health import free_port, tcp_ok
from plinth.infrastructure.providers.local.layout import Layout, read_json, write_json_atomic

__all__ = ["Cluster", "ServerUser", "find_bin_dir", "server_user"]

MISSING_BINARIES = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found on this machine: install them "
    "(for example `apt-get install postgresql`), set PLINTH_POSTGRES_BIN_DIR to their directory, "
    "or set PLINTH_POSTGRES_URL to the admin URL of an existing PostgreSQL server"
)
_SOCKET_PATH_MAX = 100


def _has_binaries(folder: Path) -> bool:
    return (folder / "initdb").is_file() and (folder / "pg_ctl").is_file()


def find_bin_dir(configured: str | os.PathLike[str] | None) -> Path | None:
    """Return the directory holding ``initdb`` and ``pg_ctl``, or None (see the module docs)."""
    if configured:
        folder = Path(configured)
        return folder if _has_binaries(folder) else None
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        try:
            out = subprocess.run(
                ["pg_config", "--bindir"], capture_output=True, text=True, timeout=10, check=False
            )
            candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass

    def version(path: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", Path(path).parent.name)) or (0,)

    installed = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    candidates += [Path(p) for p in installed]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    return next((c for c in candidates if _has_binaries(c)), None)


@dataclass(frozen=True)
class ServerUser:
    """The system user the server runs as when the control plane is root."""

    uid: int
    gid: int
    groups: frozenset[int]


def server_user() -> ServerUser | None:
    """Return the ``postgres`` user when running as root, None otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        raise PermanentError(
            "PostgreSQL cannot run as root and there is no 'postgres' system user: create one "
            "(the postgresql package does) or set PLINTH_POSTGRES_URL"
        ) from None
    groups = frozenset(os.getgrouplist("postgres", entry.pw_gid))
    return ServerUser(entry.pw_uid, entry.pw_gid, groups)


def _reachable(path: Path, user: ServerUser) -> bool:
    """Return whether ``user`` may traverse every directory down to ``path``."""
    current = Path("/")
    for part in path.parts[1:]:
        current = current / part
        try:
            info = current.stat()
        except OSError:
            return True
        if info.st_uid == user.uid:
            needed = stat.S_IXUSR
        elif info.st_gid in user.groups:
            needed = stat.S_IXGRP
        else:
            needed = stat.S_IXOTH
        if not info.st_mode & needed:
            return False
    return True


class Cluster:
    """One PostgreSQL cluster for one data directory."""

    def __init__(self, layout: Layout, bin_dir: Path | None) -> None:
        self.layout = layout
        self.bin_dir = bin_dir
        self.info_path = layout.postgres_dir() / "cluster.json"

    def recorded(self) -> dict[str, Any]:
        """Return what cluster.json records (empty when the cluster was never made)."""
        info = read_json(self.info_path)
        return info if isinstance(info, dict) else {}

    def _base(self, user: ServerUser | None) -> Path:
        recorded = self.recorded().get("base")
        if recorded:
            return Path(recorded)
        base = self.layout.postgres_dir() / "cluster"
        socket_too_long = len(str(base / ".s.PGSQL.65535")) > _SOCKET_PATH_MAX
        if socket_too_long or (user is not None and not _reachable(base, user)):
            tag = hashlib.sha256(str(self.layout.root).encode()).hexdigest()[:16]
            base = Path("/var/tmp") / f"plinth-pg-{tag}"
        return base

    def _run(self, args: list[str], user: ServerUser | None, cwd: Path) -> str:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
        extra: dict[str, Any] = {}
        if user is not None:
            extra = {"user": user.uid, "group": user.gid, "extra_groups": []}
        done = subprocess.run(
            args,
            cwd=str(cwd),
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            start_new_session=True,
            **extra,
        )
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise TemporaryError(f"{Path(args[0]).name} failed: {' '.join(detail)}")
        return str(done.stdout)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        path = self.layout.postgres_dir() / "cluster.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _prepare_base(self, base: Path, user: ServerUser | None) -> None:
        base.mkdir(parents=True, exist_ok=True)
        if user is not None:
            owner = base.stat().st_uid
            if owner not in (user.uid, 0):
                raise PermanentError(f"{base} belongs to another user; remove it and retry")
            os.chown(base, user.uid, user.gid)
        base.chmod(0o700)

    def _initdb(self, bin_dir: Path, base: Path, user: ServerUser | None) -> None:
        fresh = base / "data.init"
        shutil.rmtree(fresh, ignore_errors=True)
        self._run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(fresh),
                "--username=postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            user,
            base,
        )
        with (fresh / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude_if_exists = 'plinth.conf'\n")
        fresh.rename(base / "data")

    def _write_conf(self, base: Path, port: int, user: ServerUser | None) -> None:
        conf = base / "data" / "plinth.conf"
        conf.write_text(
            "# written by the Plinth local provider\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {port}\n"
            f"unix_socket_directories = '{base}'\n"
            "unix_socket_permissions = 0700\n"
            "log_min_error_statement = panic\n"
            "max_connections = 200\n"
        )
        if user is not None:
            os.chown(conf, user.uid, user.gid)

    def running_port(self) -> int | None:
        """Return the port of the running server (from postmaster.pid), or None."""
        base = self.recorded().get("base")
        if not base:
            return None
        try:
            lines = (Path(base) / "data" / "postmaster.pid").read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        try:
            alive = psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return None
        return port if alive and tcp_ok(port, timeout=1.0) else None

    def socket_dir(self) -> str:
        """Return the directory of the server's Unix socket."""
        return str(self.recorded()["base"])

    def ensure_running(self) -> int:
        """Create the cluster if needed and start it if it is not running; return its port."""
        if self.bin_dir is None and not self.recorded():
            raise PermanentError(MISSING_BINARIES)
        with self._locked():
            port = self.running_port()
            if port is not None:
                return port
            if self.bin_dir is None:
                raise PermanentError(MISSING_BINARIES)
            user = server_user()
            base = self._base(user)
            self._prepare_base(base, user)
            if not (base / "data" / "PG_VERSION").is_file():
                self._initdb(self.bin_dir, base, user)
            port = int(self.recorded().get("port") or 0)
            if not port or tcp_ok(port, timeout=0.5):
                port = free_port()
            self._write_conf(base, port, user)
            write_json_atomic(
                self.info_path, {"base": str(base), "port": port, "bin_dir": str(self.bin_dir)}
            )
            self._run(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "start",
                    "-D",
                    str(base / "data"),
                    "-l",
                    str(base / "postgres.log"),
                    "-w",
                    "-t",
                    "60",
                ],
                user,
                base,
            )
            return port

    def stop(self) -> None:
        """Stop the server (fast shutdown) if it runs; nothing happens otherwise."""
        info = self.recorded()
        base = info.get("base")
        bin_dir = self.bin_dir or (Path(info["bin_dir"]) if info.get("bin_dir") else None)
        if not base or bin_dir is None or self.running_port() is None:
            return
        data = Path(base) / "data"
        with self._locked():
            self._run(
                [str(bin_dir / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w"],
                server_user(),
                Path(base),
            )

    def remove(self) -> None:
        """Delete the stopped cluster's files (its data is lost)."""
        base = self.recorded().get("base")
        if base:
            shutil.rmtree(base, ignore_errors=True)
        self.info_path.unlink(missing_ok=True)
