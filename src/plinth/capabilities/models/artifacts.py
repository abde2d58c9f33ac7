"""The content-addressed artifact store, and safe unpacking of uploaded archives.

Layout: ``<root>/sha256/<hex>/<name>`` where ``<hex>`` is the artifact digest (see
``signing``) and ``<name>`` the uploaded file's or directory's own name, so a model
keeps its file extension. Stored files are made read-only; a copy is written to a
scratch folder, checked against the digest, then moved into place in one rename, so a
crash never leaves a half-written artifact under its digest.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from plinth.capabilities.models.signing import artifact_manifest, manifest_digest
from plinth.core.errors import Conflict, InvalidInput

__all__ = ["StoredArtifact", "artifact_size", "extract_archive", "store_artifact"]

MAX_ARCHIVE_FILES = 10_000


@dataclass(frozen=True)
class StoredArtifact:
    """Where an artifact was stored and what it is."""

    path: Path
    digest: str
    size_bytes: int
    files: int


def artifact_size(path: Path) -> int:
    """Return the total size in bytes of a file or of every file under a directory."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True)
    else:
        shutil.copyfile(source, target)


def _make_read_only(path: Path) -> None:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    for file in files:
        file.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def store_artifact(source: Path, root: Path) -> StoredArtifact:
    """Copy a model file or directory into the content-addressed store under ``root``."""
    items = artifact_manifest(source)
    digest = manifest_digest(items)
    name = source.resolve().name or "model"
    final = root / "sha256" / digest.split(":", 1)[1]
    target = final / name
    if final.exists():
        existing = next(iter(sorted(final.iterdir())), None)
        if existing is None or manifest_digest(artifact_manifest(existing)) != digest:
            raise Conflict(
                f"the stored artifact {final} no longer matches its digest {digest}: "
                "it was changed on disk; restore it or remove it before registering again"
            )
        return StoredArtifact(existing, digest, artifact_size(existing), len(items))
    scratch = root / "tmp" / uuid.uuid4().hex
    scratch.mkdir(parents=True)
    try:
        _copy(source, scratch / name)
        copied = artifact_manifest(scratch / name)
        if manifest_digest(copied) != digest:
            raise Conflict(f"the artifact at {source} changed while it was being stored; retry")
        _make_read_only(scratch / name)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(scratch, final)
        except OSError:
            if not final.exists():
                raise
            # A concurrent registration stored the same content first: use that copy.
            target = next(iter(sorted(final.iterdir())))
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return StoredArtifact(target, digest, artifact_size(target), len(items))


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise InvalidInput(f"the archive holds an unsafe path {name!r}")
    return path


def _extract_tar(archive: Path, dest: Path, max_bytes: int) -> None:
    total = 0
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        if len(members) > MAX_ARCHIVE_FILES:
            raise InvalidInput(f"the archive holds more than {MAX_ARCHIVE_FILES} entries")
        for member in members:
            _safe_name(member.name)
            if not (member.isfile() or member.isdir()):
                raise InvalidInput(
                    f"the archive entry {member.name!r} is a link or special file; "
                    "model artifacts may hold only regular files and folders"
                )
            total += member.size
            if total > max_bytes:
                raise InvalidInput(f"the unpacked artifact is larger than {max_bytes} bytes")
        tar.extractall(dest, members=members, filter="data")


def _extract_zip(archive: Path, dest: Path, max_bytes: int) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_ARCHIVE_FILES:
            raise InvalidInput(f"the archive holds more than {MAX_ARCHIVE_FILES} entries")
        total = 0
        for info in infos:
            _safe_name(info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise InvalidInput(f"the archive entry {info.filename!r} is a symbolic link")
            total += info.file_size
            if total > max_bytes:
                raise InvalidInput(f"the unpacked artifact is larger than {max_bytes} bytes")
        zf.extractall(dest)


def extract_archive(archive: Path, dest: Path, *, max_bytes: int) -> Path:
    """Unpack a tar (any compression) or zip archive of a model directory into ``dest``.

    Refuses absolute paths, ``..``, links and special files, and more than ``max_bytes``
    unpacked. Returns the model directory: the archive's single top folder, if it has
    exactly one, else ``dest`` itself.
    """
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, dest, max_bytes)
        elif tarfile.is_tarfile(archive):
            _extract_tar(archive, dest, max_bytes)
        else:
            raise InvalidInput("the uploaded archive is neither a tar nor a zip file")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise InvalidInput(f"the uploaded archive is corrupt: {exc}") from exc
    entries = list(dest.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    if not entries:
        raise InvalidInput("the uploaded archive is empty")
    return dest
