"""Snapshots of the local provider: volume archives and PostgreSQL backups, restored for real."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from plinth.core.errors import InvalidInput, PermanentError
from plinth.infrastructure.providers.base import Snapshotter
from plinth.infrastructure.providers.local.postgres_cluster import find_bin_dir
from plinth.infrastructure.providers.local.provider import LocalProvider

from .local_provider_helpers import make_resource

needs_binaries = pytest.mark.skipif(
    find_bin_dir(None) is None, reason="PostgreSQL server binaries are not installed"
)


def test_the_local_provider_is_a_snapshotter(provider: LocalProvider) -> None:
    assert isinstance(provider, Snapshotter)


def test_volume_snapshot_and_restore(provider: LocalProvider, data_dir: Path) -> None:
    vol = make_resource("res_snap_vol", "volume", {"size": "1Gi"}, name="files")
    path = Path(provider.apply(vol, {}).outputs["path"])
    (path / "sub").mkdir()
    (path / "a.txt").write_text("original")
    (path / "sub" / "b.txt").write_text("nested")
    taken = provider.snapshot(vol, {}, "snap_vol_1")
    assert taken.kind == "volume" and taken.size_bytes > 0
    assert Path(taken.location) == data_dir / "snapshots" / "snap_vol_1"

    (path / "a.txt").write_text("changed")
    (path / "sub" / "b.txt").unlink()
    (path / "new.txt").write_text("added later")
    provider.restore(vol, {}, taken.location)
    assert (path / "a.txt").read_text() == "original"
    assert (path / "sub" / "b.txt").read_text() == "nested"
    assert not (path / "new.txt").exists()
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(".")) == []

    with pytest.raises(InvalidInput, match="already exists"):
        provider.snapshot(vol, {}, "snap_vol_1")
    provider.drop_snapshot(taken.location)
    assert not Path(taken.location).exists()
    with pytest.raises(PermanentError, match="gone"):
        provider.restore(vol, {}, taken.location)
    provider.destroy(vol, {})


def test_snapshot_of_a_type_without_data_is_refused(provider: LocalProvider) -> None:
    route = make_resource("res_snap_route", "route", {"host": "x", "path": "/"}, name="r")
    with pytest.raises(PermanentError, match="holds no data"):
        provider.snapshot(route, {}, "snap_route")
    with pytest.raises(InvalidInput, match="not a snapshot"):
        provider.restore(route, {}, "/etc")


def test_a_missing_volume_leaves_no_snapshot_behind(
    provider: LocalProvider, data_dir: Path
) -> None:
    vol = make_resource("res_snap_never", "volume", {"size": "1Gi"}, name="never")
    with pytest.raises(PermanentError, match="does not exist"):
        provider.snapshot(vol, {}, "snap_never")
    assert not (data_dir / "snapshots" / "snap_never").exists()


@needs_binaries
def test_postgres_backup_restores_the_original_rows(provider: LocalProvider) -> None:
    db = make_resource("res_snap_db", "postgres", {"database": "orders"}, name="orders-db")
    uri = provider.apply(db, {}).outputs["uri"]
    try:
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("CREATE TABLE orders (id int PRIMARY KEY, item text NOT NULL)")
            conn.execute("INSERT INTO orders VALUES (1, 'apple'), (2, 'pear'), (3, 'fig')")
        backup = provider.snapshot(db, {}, "snap_db_1")
        assert backup.kind == "postgres-backup" and backup.size_bytes > 0
        assert (Path(backup.location) / "database.dump").read_bytes()[:5] == b"PGDMP"

        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("DELETE FROM orders WHERE id = 1")
            conn.execute("UPDATE orders SET item = 'plum' WHERE id = 2")
            conn.execute("CREATE TABLE extra (x int)")
        provider.restore(db, {}, backup.location)

        with psycopg.connect(uri) as conn:
            rows = conn.execute("SELECT id, item FROM orders ORDER BY id").fetchall()
            extra = conn.execute("SELECT to_regclass('public.extra')").fetchone()
        assert rows == [(1, "apple"), (2, "pear"), (3, "fig")]
        assert extra == ("extra",)  # objects made after the backup are kept (documented)
        provider.drop_snapshot(backup.location)
    finally:
        provider.destroy(db, {})


@needs_binaries
def test_backup_of_a_missing_database_is_refused(provider: LocalProvider) -> None:
    db = make_resource("res_snap_nodb", "postgres", {"database": "nothing"}, name="nodb")
    provider.apply(make_resource("res_snap_other", "postgres", {"database": None}, name="o"), {})
    try:
        with pytest.raises(PermanentError, match="does not exist"):
            provider.snapshot(db, {}, "snap_nodb")
    finally:
        provider.destroy(make_resource("res_snap_other", "postgres", {}, name="o"), {})
