"""Snapshots and backups of the local provider's volumes, VM disks and databases.

Every snapshot is a folder ``<data_dir>/snapshots/<snapshot id>/``:

- ``volume``: ``volume.tar.gz``, the directory archived file by file while it stays in
  use (stop the writers first for a consistent copy); restore unpacks it beside the
  volume and swaps the two directories, so a failed restore leaves the volume as it was.
- ``vm``: ``disks/<name>.qcow2``, one copy per data disk, made with ``qemu-img convert`` while
  the VM is halted (a consistent copy: nothing writes during it); the reconciler boots the
  VM again. Restore halts the VM, replaces each disk through a temporary file and a rename,
  and leaves the start to the reconciler.
- ``postgres``: ``database.dump``, a ``pg_dump`` custom-format backup (consistent: one
  transaction snapshot, the database stays online); restore runs ``pg_restore --clean
  --if-exists --single-transaction`` into the same database, so it applies whole or not
  at all.

The PostgreSQL client binaries are the ones the provider's cluster uses (``postgres_cluster``),
else ``pg_dump``/``pg_restore`` on ``PATH``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from psycopg.conninfo import conninfo_to_dict

from plinth.core.errors import InvalidInput, PermanentError, TemporaryError
from plinth.infrastructure.providers.base import Resource, SnapshotResult
from plinth.infrastructure.providers.local.layout import Layout
from plinth.infrastructure.providers.local.postgres import Postgres
from plinth.infrastructure.providers.local.postgres_cluster import find_bin_dir
from plinth.infrastructure.providers.local.volumes import disk_bytes

__all__ = ["SNAPSHOT_TYPES", "Snapshots", "VmDisks"]

SNAPSHOT_TYPES = {"volume": "volume", "vm": "vm-disk", "postgres": "postgres-backup"}
_TIMEOUT_S = 600.0
_HALT_ATTEMPTS = 3


@runtime_checkable
class VmDisks(Protocol):
    """What snapshots need of the ``vm`` type: its disk files and a way to halt it."""

    def disk_files(self, resource: Resource) -> dict[str, Path]:
        """Return ``{disk name: qcow2 path}`` of the VM's disks."""
        ...

    def halt(self, resource: Resource) -> None:
        """Stop the VM's QEMU process (the disks stay); the reconciler starts it again."""
        ...


class Snapshots:
    """Takes, restores and removes snapshots under ``<data_dir>/snapshots``."""

    def __init__(
        self,
        layout: Layout,
        *,
        postgres: Callable[[], Postgres],
        vms: Callable[[], object],
        settings: Mapping[str, Any],
    ) -> None:
        self.layout, self._postgres, self._vms = layout, postgres, vms
        self.settings = settings
        self.root = layout.root / "snapshots"

    def folder(self, snapshot_id: str) -> Path:
        """Return the folder of one snapshot."""
        if not snapshot_id or "/" in snapshot_id or snapshot_id.startswith("."):
            raise InvalidInput(f"bad snapshot id {snapshot_id!r}")
        return self.root / snapshot_id

    # -- taking -------------------------------------------------------------------------

    def snapshot(
        self, resource: Resource, state: Mapping[str, Any], snapshot_id: str
    ) -> SnapshotResult:
        """Copy the resource's data into a new snapshot folder (removed again on failure)."""
        kind = SNAPSHOT_TYPES.get(resource.type)
        if kind is None:
            known = ", ".join(sorted(SNAPSHOT_TYPES))
            raise PermanentError(
                f"{resource.type} {resource.name} holds no data to snapshot (types: {known})"
            )
        folder = self.folder(snapshot_id)
        if folder.exists():
            raise InvalidInput(f"snapshot {snapshot_id} already exists")
        folder.mkdir(parents=True)
        try:
            if resource.type == "volume":
                with self.layout.locked(resource.id):
                    self._snapshot_volume(resource, folder)
            elif resource.type == "vm":
                self._snapshot_vm(resource, folder)
            else:
                self._backup_postgres(resource, state, folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return SnapshotResult(kind=kind, location=str(folder), size_bytes=disk_bytes(folder))

    def _snapshot_volume(self, resource: Resource, folder: Path) -> None:
        source = self.layout.volume_dir(resource.id)
        if not source.is_dir():
            raise PermanentError(f"volume {resource.name} does not exist: apply it first")
        with tarfile.open(folder / "volume.tar.gz", "w:gz") as archive:
            archive.add(source, arcname=".")

    def _snapshot_vm(self, resource: Resource, folder: Path) -> None:
        vms = self._vm_disks()
        disks = vms.disk_files(resource)
        if not disks:
            raise PermanentError(
                f"vm {resource.name} has no data disks to snapshot (declare params.disks)"
            )
        for name, path in sorted(disks.items()):
            if not path.is_file():
                raise PermanentError(f"disk {name} of vm {resource.name} is missing ({path})")
        target = folder / "disks"
        target.mkdir()
        with self._halted(vms, resource, list(disks.values())):
            for name, path in sorted(disks.items()):
                _qemu_img_copy(path, target / f"{name}.qcow2")

    def _backup_postgres(self, resource: Resource, state: Mapping[str, Any], folder: Path) -> None:
        args, env = self._pg_client(resource, state, "pg_dump")
        _run([*args, "--format=custom", "--file", str(folder / "database.dump")], env)

    # -- restoring ----------------------------------------------------------------------

    def restore(self, resource: Resource, state: Mapping[str, Any], location: str) -> None:
        """Put the snapshot at ``location`` back in place of the resource's data."""
        folder = self._existing(location)
        if resource.type == "volume":
            with self.layout.locked(resource.id):
                self._restore_volume(resource, folder)
        elif resource.type == "vm":
            self._restore_vm(resource, folder)
        elif resource.type == "postgres":
            dump = folder / "database.dump"
            if not dump.is_file():
                raise PermanentError(f"{location} holds no database backup")
            args, env = self._pg_client(resource, state, "pg_restore")
            flags = ["--clean", "--if-exists", "--single-transaction", "--no-owner"]
            _run([*args, *flags, "--no-privileges", str(dump)], env)
        else:
            raise PermanentError(f"{resource.type} {resource.name} cannot be restored")

    def _restore_volume(self, resource: Resource, folder: Path) -> None:
        archive_path = folder / "volume.tar.gz"
        if not archive_path.is_file():
            raise PermanentError(f"{folder} holds no volume archive")
        target = self.layout.volume_dir(resource.id)
        fresh = target.with_name(f".{target.name}.restoring")
        old = target.with_name(f".{target.name}.replaced")
        shutil.rmtree(fresh, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
        fresh.mkdir(parents=True)
        try:
            with tarfile.open(archive_path, "r:gz") as archive:
                archive.extractall(fresh, filter="data")
        except (OSError, tarfile.TarError) as exc:
            shutil.rmtree(fresh, ignore_errors=True)
            raise PermanentError(f"cannot unpack {archive_path}: {exc}") from None
        if target.exists():
            os.replace(target, old)
        os.replace(fresh, target)
        shutil.rmtree(old, ignore_errors=True)

    def _restore_vm(self, resource: Resource, folder: Path) -> None:
        saved = {p.stem: p for p in sorted((folder / "disks").glob("*.qcow2"))}
        if not saved:
            raise PermanentError(f"{folder} holds no VM disks")
        vms = self._vm_disks()
        disks = vms.disk_files(resource)
        missing = sorted(set(saved) - set(disks))
        if missing:
            raise PermanentError(
                f"vm {resource.name} no longer has disk(s) {', '.join(missing)}: "
                "declare them again before restoring this snapshot"
            )
        staged: dict[str, Path] = {}
        try:
            for name, copy in saved.items():
                staged[name] = disks[name].with_name(f".{disks[name].name}.restoring")
                _qemu_img_copy(copy, staged[name])
        except BaseException:
            for path in staged.values():
                path.unlink(missing_ok=True)
            raise
        try:
            with self._halted(vms, resource, [disks[name] for name in staged]):
                for name, path in staged.items():
                    os.replace(path, disks[name])
        finally:
            for path in staged.values():
                path.unlink(missing_ok=True)

    @contextmanager
    def _halted(self, vms: VmDisks, resource: Resource, disks: list[Path]) -> Iterator[None]:
        """Hold the VM halted, under its lock (so the reconciler waits), for the block.

        ``halt`` takes the resource's lock itself, so the VM is halted first and the lock
        taken after; a VM started again in between still holds its disks' image locks
        (``qemu-img info`` is refused), and it is halted again.
        """
        for _ in range(_HALT_ATTEMPTS):
            vms.halt(resource)
            with self.layout.locked(resource.id):
                if not any(_in_use(path) for path in disks):
                    yield
                    return
        raise TemporaryError(f"vm {resource.name} kept being started again: try again later")

    def drop_snapshot(self, location: str) -> None:
        """Remove a snapshot folder; succeed when it is already gone."""
        path = Path(location)
        if path.parent.resolve() != self.root.resolve():
            raise InvalidInput(f"{location} is not a snapshot of this provider")
        shutil.rmtree(path, ignore_errors=True)

    # -- helpers --------------------------------------------------------------------------

    def _existing(self, location: str) -> Path:
        path = Path(location)
        if path.parent.resolve() != self.root.resolve():
            raise InvalidInput(f"{location} is not a snapshot of this provider")
        if not path.is_dir():
            raise PermanentError(f"the snapshot's files are gone ({location})")
        return path

    def _vm_disks(self) -> VmDisks:
        handler = self._vms()
        if not isinstance(handler, VmDisks):
            raise PermanentError("this provider cannot snapshot VMs")
        return handler

    def _pg_client(
        self, resource: Resource, state: Mapping[str, Any], tool: str
    ) -> tuple[list[str], dict[str, str]]:
        """Return the command line and environment of a PostgreSQL client for the database."""
        observed = self._postgres().observe(resource, state)
        uri = observed.outputs.get("uri")
        if not observed.exists or not isinstance(uri, str):
            raise PermanentError(f"database {resource.name} does not exist or is not running")
        info = conninfo_to_dict(uri)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LC_ALL": "C",
            "PGPASSWORD": str(info.get("password") or ""),
            "PGCONNECT_TIMEOUT": "10",
        }
        args = [
            self._binary(tool),
            "--host",
            str(info.get("host") or "127.0.0.1"),
            "--port",
            str(info.get("port") or 5432),
            "--username",
            str(info.get("user") or ""),
            "--dbname",
            str(info.get("dbname") or ""),
            "--no-password",
        ]
        return args, env

    def _binary(self, tool: str) -> str:
        bin_dir = find_bin_dir(self.settings.get("postgres_bin_dir"))
        if bin_dir is not None and (bin_dir / tool).is_file():
            return str(bin_dir / tool)
        found = shutil.which(tool)
        if found is None:
            raise PermanentError(f"{tool} was not found: install the PostgreSQL client binaries")
        return found


def _qemu_img_copy(source: Path, target: Path) -> None:
    """Copy a disk image to a new qcow2 file with ``qemu-img convert``."""
    binary = shutil.which("qemu-img")
    if binary is None:
        raise PermanentError("qemu-img was not found: install qemu-utils")
    try:
        _run([binary, "convert", "-O", "qcow2", str(source), str(target)], None)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _in_use(path: Path) -> bool:
    """Return True when a running QEMU holds the image (its lock refuses ``qemu-img info``)."""
    binary = shutil.which("qemu-img") or "qemu-img"
    done = subprocess.run(
        [binary, "info", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    return done.returncode != 0 and "lock" in done.stderr


def _run(args: list[str], env: dict[str, str] | None) -> None:
    """Run a tool; a failure is a TemporaryError carrying its last lines of output."""
    name = Path(args[0]).name
    try:
        done = subprocess.run(
            args, env=env, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise TemporaryError(f"{name} did not finish within {_TIMEOUT_S:.0f}s") from None
    if done.returncode != 0:
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise TemporaryError(f"{name} failed (exit {done.returncode}): {tail}")
