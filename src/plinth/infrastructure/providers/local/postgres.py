"""The ``postgres`` resource type: a database and a login role on a real PostgreSQL server.

The server is either an existing one (setting ``postgres_url``: an admin URL)
or the provider's own cluster (see ``postgres_cluster``). Database and role are
both named ``p_<hash of the resource id>_<readable name>``. The password is
never stored: it is HMAC-SHA256(secret key, resource id), so it can always be
computed again and set again (``ALTER ROLE`` is idempotent). The applied spec
digest is kept as the database's comment, so it survives lost state.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from plinth.core.errors import PermanentError, TemporaryError
from plinth.infrastructure.providers.base import Observation, Resource, Usage
from plinth.infrastructure.providers.local.layout import Layout
from plinth.infrastructure.providers.local.postgres_cluster import Cluster, find_bin_dir
from plinth.infrastructure.providers.local.specs import spec_digest, validate_spec

__all__ = ["SECRET_OUTPUTS", "Postgres", "database_name", "derive_password"]

SECRET_OUTPUTS = frozenset({"password", "uri"})


def database_name(resource: Resource) -> str:
    """Return the database (and role) name of a resource: unique, readable, valid."""
    short = hashlib.sha256(resource.id.encode()).hexdigest()[:8]
    wanted = str(resource.spec.get("database") or resource.name or "db")
    readable = re.sub(r"[^a-z0-9_]", "_", wanted.lower()).strip("_")[:40] or "db"
    return f"p_{short}_{readable}"


def derive_password(secret_key: bytes, resource_id: str) -> str:
    """Return the role's password: HMAC-SHA256 of the resource id, URL-safe, no padding."""
    mac = hmac.new(secret_key, resource_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


class Postgres:
    """Applies, observes and destroys databases."""

    def __init__(self, layout: Layout, *, secret_key: bytes, settings: Mapping[str, Any]) -> None:
        self.secret_key = secret_key
        self.admin_url = str(settings.get("postgres_url") or "") or None
        bin_dir = None if self.admin_url else find_bin_dir(settings.get("postgres_bin_dir"))
        self.cluster = Cluster(layout, bin_dir)

    def _endpoint(self, *, start: bool) -> tuple[str, int] | None:
        """Return the (host, port) clients use, starting the own cluster when ``start``."""
        if self.admin_url:
            info = conninfo_to_dict(self.admin_url)
            host = str(info.get("host") or "127.0.0.1")
            return host, int(info.get("port") or 5432)
        port = self.cluster.ensure_running() if start else self.cluster.running_port()
        return None if port is None else ("127.0.0.1", port)

    @contextmanager
    def _admin(self, dbname: str = "postgres") -> Iterator[psycopg.Connection[Any]]:
        try:
            if self.admin_url:
                conn = psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10)
            else:
                conn = psycopg.connect(
                    host=self.cluster.socket_dir(),
                    port=self.cluster.running_port() or 0,
                    user="postgres",
                    dbname=dbname,
                    autocommit=True,
                    connect_timeout=10,
                )
        except psycopg.OperationalError as exc:
            raise TemporaryError(
                f"could not reach the PostgreSQL server: {_first_line(exc)}"
            ) from None
        try:
            yield conn
        except psycopg.errors.InsufficientPrivilege as exc:
            raise PermanentError(
                f"the PostgreSQL admin lacks a privilege: {_first_line(exc)}"
            ) from None
        except psycopg.Error as exc:
            raise TemporaryError(f"PostgreSQL error: {_first_line(exc)}") from None
        finally:
            conn.close()

    def apply(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Create (or repair) the role and the database; set the derived password."""
        spec = validate_spec("postgres", resource.spec)
        self._endpoint(start=True)
        name = database_name(resource)
        password = derive_password(self.secret_key, resource.id)
        comment = json.dumps({"digest": spec_digest(spec), "database": spec.get("database")})
        with self._admin() as conn:
            role_exists = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", [name]
            ).fetchone()
            verb = "ALTER" if role_exists else "CREATE"
            conn.execute(
                sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(password)
                )
            )
            db_exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [name]
            ).fetchone()
            if not db_exists:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(name), sql.Identifier(name)
                    )
                )
                conn.execute(
                    sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name))
                )
            conn.execute(
                sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                    sql.Identifier(name), sql.Literal(comment)
                )
            )
        return self.observe(resource, state)

    def observe(self, resource: Resource, state: Mapping[str, Any]) -> Observation:
        """Report whether the database and role exist and the role can log in."""
        endpoint = self._endpoint(start=False)
        if endpoint is None:
            phase = "stopped" if self.cluster.recorded() else "absent"
            message = "the local PostgreSQL server is not running" if phase == "stopped" else ""
            return Observation(exists=False, phase=phase, state={}, message=message)
        name = database_name(resource)
        with self._admin() as conn:
            row = conn.execute(
                "SELECT shobj_description(d.oid, 'pg_database'), "
                "EXISTS (SELECT 1 FROM pg_roles WHERE rolname = d.datname) "
                "FROM pg_database d WHERE d.datname = %s",
                [name],
            ).fetchone()
        if row is None or not row[1]:
            return Observation(exists=False, phase="absent", state={})
        try:
            recorded = json.loads(row[0] or "{}")
        except ValueError:
            recorded = {}
        outputs = self._outputs(resource, endpoint)
        healthy, message = _can_login(outputs["uri"])
        return Observation(
            exists=True,
            phase="ready",
            healthy=healthy,
            outputs=outputs,
            secret_outputs=SECRET_OUTPUTS,
            state={"database": name, "role": name, "spec_database": recorded.get("database")},
            applied_digest=recorded.get("digest"),
            message=message,
        )

    def _outputs(self, resource: Resource, endpoint: tuple[str, int]) -> dict[str, Any]:
        host, port = endpoint
        name = database_name(resource)
        password = derive_password(self.secret_key, resource.id)
        userinfo = f"{quote(name, safe='')}:{quote(password, safe='')}"
        if host.startswith("/"):
            uri = f"postgresql://{userinfo}@/{name}?host={quote(host, safe='')}&port={port}"
        else:
            uri = f"postgresql://{userinfo}@{host}:{port}/{name}"
        return {
            "host": host,
            "port": port,
            "name": name,
            "database": name,
            "username": name,
            "password": password,
            "uri": uri,
        }

    def destroy(self, resource: Resource, state: Mapping[str, Any]) -> None:
        """Drop the database (ending its connections) and the role; succeed if already gone."""
        if not self.admin_url and not self.cluster.recorded():
            return
        self._endpoint(start=True)
        names = {database_name(resource)}
        recorded = state.get("database")
        if isinstance(recorded, str) and recorded.startswith(database_name(resource)[:11]):
            names.add(recorded)
        with self._admin() as conn:
            for name in sorted(names):
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    [name],
                )
                ident = sql.Identifier(name)
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident))

    def usage(self, resource: Resource, state: Mapping[str, Any]) -> Usage:
        """Return the database's size on disk (zero when the server is not running)."""
        if self._endpoint(start=False) is None:
            return Usage()
        with self._admin() as conn:
            row = conn.execute(
                "SELECT pg_database_size(datname) FROM pg_database WHERE datname = %s",
                [database_name(resource)],
            ).fetchone()
        return Usage(disk_bytes=int(row[0]) if row else 0)


def _can_login(uri: str) -> tuple[bool, str]:
    try:
        with psycopg.connect(uri, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return False, f"cannot log in to the database: {_first_line(exc)}"
    return True, ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
