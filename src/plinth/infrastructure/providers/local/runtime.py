"""Stopping everything the local provider runs for one data directory."""

from __future__ import annotations

from pathlib import Path

from plinth.infrastructure.providers.local import egress, processes
from plinth.infrastructure.providers.local.layout import Layout
from plinth.infrastructure.providers.local.postgres_cluster import Cluster

__all__ = ["stop_local_runtime"]


def stop_local_runtime(data_dir: Path, *, purge_postgres: bool = False) -> None:
    """Kill every process marked with ``data_dir`` and stop its PostgreSQL cluster.

    Args:
        data_dir: the provider's data directory.
        purge_postgres: also delete the cluster's files (used by tests; data is lost).
    """
    layout = Layout(data_dir)
    marked = processes.scan(str(layout.root))
    processes.terminate([found.process for found in marked])
    egress.remove_all(layout)  # the network namespaces of confined workloads
    cluster = Cluster(layout, None)
    cluster.stop()
    if purge_postgres:
        cluster.remove()
