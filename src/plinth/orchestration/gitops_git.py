"""The git side of GitOps: write desired state as a commit, read the files of a ref.

Only the ``git`` binary is used. Reading never looks at the working tree: the
files are taken from the commit itself (``git ls-tree`` and ``git cat-file``),
so uncommitted edits are never synced by accident.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from plinth.core.errors import InvalidInput, NotFound, PlinthError
from plinth.orchestration.gitops import is_hidden

__all__ = ["GitTree", "commit_tree", "read_ref"]

_IDENTITY = ("-c", "user.name=Plinth", "-c", "user.email=plinth@localhost")


@dataclass(frozen=True)
class GitTree:
    """The files of one commit."""

    sha: str
    time: str
    files: dict[str, str]
    dirty: bool = False


def _git(directory: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except FileNotFoundError as exc:
        raise PlinthError("the git program is not installed") from exc
    if check and done.returncode != 0:
        raise PlinthError(f"git {args[0]} failed in {directory}: {done.stderr.strip()}")
    return done


def _is_repo(directory: Path) -> bool:
    if not directory.is_dir():
        return False
    done = _git(directory, "rev-parse", "--show-toplevel", check=False)
    return done.returncode == 0 and Path(done.stdout.strip()).resolve() == directory.resolve()


def _has_commits(directory: Path) -> bool:
    return _git(directory, "rev-parse", "--verify", "-q", "HEAD", check=False).returncode == 0


def _layout_files(directory: Path) -> list[Path]:
    """Return the ``.yaml`` files an export owns (not those under ``.git``, ``.github``, ...)."""
    return [
        p
        for p in directory.rglob("*.yaml")
        if p.is_file() and not is_hidden(p.relative_to(directory).as_posix())
    ]


def commit_tree(
    directory: Path, files: dict[str, str], *, version: str, now: datetime
) -> str | None:
    """Write ``files`` (and remove other ``.yaml`` files) and commit; None when nothing changed."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create {directory}: {exc.strerror or exc}") from None
    if not _is_repo(directory):
        _git(directory, "init", "-q")
    if _has_commits(directory) and _git(directory, "status", "--porcelain").stdout.strip():
        raise InvalidInput(
            f"{directory} has uncommitted changes: commit or discard them before exporting"
        )
    for stale in _layout_files(directory):
        if stale.relative_to(directory).as_posix() not in files:
            stale.unlink()
    for path, text in sorted(files.items()):
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    _git(directory, "add", "-A")
    if _git(directory, "diff", "--cached", "--quiet", check=False).returncode == 0 and _has_commits(
        directory
    ):
        return None
    message = f"plinth {version}: desired state at {now.isoformat(timespec='seconds')}"
    _git(directory, *_IDENTITY, "commit", "-q", "--allow-empty", "-m", message)
    return _git(directory, "rev-parse", "HEAD").stdout.strip()


def read_ref(directory: Path, ref: str = "HEAD") -> GitTree:
    """Return the files of ``ref`` in the repository at ``directory`` (not its working tree)."""
    if not _is_repo(directory):
        raise InvalidInput(f"{directory} is not a git repository (run `git init` or export first)")
    if ref.startswith("-"):
        raise InvalidInput(f"{ref!r} is not a ref")
    found = _git(directory, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}", check=False)
    if found.returncode != 0:
        raise NotFound(f"no commit {ref!r} in {directory}")
    sha = found.stdout.strip()
    time = _git(directory, "show", "-s", "--format=%cI", sha).stdout.strip()
    names = _git(directory, "ls-tree", "-r", "-z", "--name-only", sha).stdout.split("\0")
    files: dict[str, str] = {}
    for name in sorted(n for n in names if n.endswith((".yaml", ".yml")) and not is_hidden(n)):
        blob = _git(directory, "cat-file", "blob", f"{sha}:{name}")
        files[name] = blob.stdout
    dirty = bool(_git(directory, "status", "--porcelain").stdout.strip())
    return GitTree(sha=sha, time=time, files=files, dirty=dirty)
