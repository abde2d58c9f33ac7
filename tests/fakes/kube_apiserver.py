"""``FakeKubeApiServer``: a small, real HTTP server speaking the Kubernetes REST protocol.

There is no live cluster on this machine, so the Kubernetes provider's tests talk,
through the official ``kubernetes`` client, to this server on a free loopback port.
It keeps objects in memory and implements what the provider uses, the way the real
API server does it:

- typed paths: ``/api/v1/[namespaces/{ns}/]{plural}[/{name}]`` and
  ``/apis/{group}/{version}/[namespaces/{ns}/]{plural}[/{name}]`` for the kinds in
  ``KINDS``; list with ``labelSelector`` (``k=v``, ``k!=v``, ``k``, ``!k``);
- server-side apply (``PATCH`` with ``application/apply-patch+yaml``,
  ``fieldManager``, ``force``): create or merge, ``managedFields`` per manager
  (lists are atomic fields here, where the real server merges keyed lists),
  ``409 Conflict`` naming the manager and field when another manager owns a field
  whose value the apply changes, no write (same ``resourceVersion``) when nothing
  changes; other ``PATCH`` content types are merge patches recorded as ``Update``;
- ``DELETE`` (any propagation policy deletes at once), ``404`` for what is absent,
  also for objects in a namespace that does not exist;
- ``401`` for a missing or wrong bearer token; ``422 Invalid`` for objects the
  official schemas reject (``kubernetes-validate``, strict), names and hosts that are
  not DNS names and malformed quantities; injected failures (``fail_next``).

Errors are ``Status`` objects shaped as the real API server shapes them. Tests set
what controllers would (``set_status``) and change objects as another manager would
(``update_as``).
"""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.kube_objects import ApiError, ObjectStore, group_of

__all__ = ["KINDS", "ApiError", "FakeKubeApiServer"]


Obj = dict[str, Any]

KINDS: dict[tuple[str, str], tuple[str, bool]] = {
    ("v1", "namespaces"): ("Namespace", False),
    ("v1", "services"): ("Service", True),
    ("v1", "secrets"): ("Secret", True),
    ("v1", "persistentvolumeclaims"): ("PersistentVolumeClaim", True),
    ("apps/v1", "deployments"): ("Deployment", True),
    ("batch/v1", "jobs"): ("Job", True),
    ("batch/v1", "cronjobs"): ("CronJob", True),
    ("networking.k8s.io/v1", "ingresses"): ("Ingress", True),
    ("networking.k8s.io/v1", "networkpolicies"): ("NetworkPolicy", True),
    ("kubevirt.io/v1", "virtualmachines"): ("VirtualMachine", True),
    ("kueue.x-k8s.io/v1beta2", "resourceflavors"): ("ResourceFlavor", False),
    ("kueue.x-k8s.io/v1beta2", "clusterqueues"): ("ClusterQueue", False),
    ("kueue.x-k8s.io/v1beta2", "cohorts"): ("Cohort", False),
    ("kueue.x-k8s.io/v1beta2", "localqueues"): ("LocalQueue", True),
}
"""(apiVersion, plural) → (kind, namespaced)."""


def matches(labels: dict[str, str], selector: str) -> bool:
    """Return whether ``labels`` match an equality-based label ``selector``."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key) != value.lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


class FakeKubeApiServer(ObjectStore):
    """An in-memory Kubernetes API server on ``http://127.0.0.1:<port>``; a context manager."""

    def __init__(self, *, token: str = "plinth-test-token") -> None:
        super().__init__()
        self.token = token
        self._failures: list[tuple[int, str]] = []
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def list_objects(
        self, api_version: str, plural: str, kind: str, ns: str, query: dict[str, list[str]]
    ) -> Obj:
        """Return a ``<Kind>List`` of the objects matching the query's ``labelSelector``."""
        selector = (query.get("labelSelector") or [""])[0]
        items = [
            copy.deepcopy(o)
            for (v, p, n, _), o in sorted(self.objects.items())
            if v == api_version
            and p == plural
            and (not ns or n == ns)
            and matches(o["metadata"].get("labels", {}), selector)
        ]
        meta = {"resourceVersion": str(self._version)}
        return {"apiVersion": api_version, "kind": f"{kind}List", "metadata": meta, "items": items}

    def delete_object(self, key: tuple[str, str, str, str]) -> Obj:
        """Delete one object at once (whatever the propagation policy); 404 when absent."""
        api_version, plural, _, name = key
        if key not in self.objects:
            raise self.not_found(api_version, plural, name)
        gone = self.objects.pop(key)
        details = {
            "name": name,
            "group": group_of(api_version),
            "kind": plural,
            "uid": gone["metadata"].get("uid"),
        }
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }

    @property
    def url(self) -> str:
        """Return the server's base URL."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeKubeApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def kubeconfig(self, *, token: str | None = None) -> str:
        """Return a kubeconfig (YAML is a superset of JSON) for this server."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": token or self.token}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester"}}],
            "current-context": "fake",
        }
        return json.dumps(config)

    def fail_next(self, code: int, *, times: int = 1, reason: str = "ServiceUnavailable") -> None:
        """Answer the next ``times`` requests with ``code`` (for 429 and 5xx handling)."""
        with self.lock:
            self._failures.extend([(code, reason)] * times)

    def take_failure(self) -> tuple[int, str] | None:
        """Return (and consume) the next injected failure, if any."""
        with self.lock:
            return self._failures.pop(0) if self._failures else None


class _Handler(BaseHTTPRequestHandler):
    fake: FakeKubeApiServer
    payload: Obj
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def _send(self, code: int, body: Obj) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Obj:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parsed = json.loads(raw) if raw else {}
        return parsed if isinstance(parsed, dict) else {}

    def _route(self) -> tuple[str, str, str, str, dict[str, list[str]]]:
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            api_version, rest = "v1", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            api_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest or (api_version, rest[0]) not in KINDS or len(rest) > 2:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) == 2 else ""
        return api_version, rest[0], namespace, name, parse_qs(url.query)

    def _handle(self, method: str) -> None:
        self.payload = self._body() if method in ("PATCH", "DELETE") else {}
        try:
            if self.headers.get("Authorization") != f"Bearer {self.fake.token}":
                raise ApiError(401, "Unauthorized", "Unauthorized")
            failure = self.fake.take_failure()
            if failure is not None:
                raise ApiError(failure[0], failure[1], f"injected failure {failure[0]}")
            with self.fake.lock:
                code, body = self._dispatch(method, *self._route())
            self._send(code, body)
        except ApiError as exc:
            self._send(int(exc.status["code"]), exc.status)

    def _dispatch(
        self,
        method: str,
        api_version: str,
        plural: str,
        ns: str,
        name: str,
        query: dict[str, list[str]],
    ) -> tuple[int, Obj]:
        fake = self.fake
        kind, namespaced = KINDS[(api_version, plural)]
        if (
            namespaced
            and ns
            and ("v1", "namespaces", "", ns) not in fake.objects
            and method == "PATCH"
        ):
            raise ApiError(
                404, "NotFound", f'namespaces "{ns}" not found', {"name": ns, "kind": "namespaces"}
            )
        key = (api_version, plural, ns, name)
        if method == "GET" and not name:
            return 200, fake.list_objects(api_version, plural, kind, ns, query)
        if method == "GET":
            found = fake.objects.get(key)
            if found is None:
                raise fake.not_found(api_version, plural, name)
            return 200, copy.deepcopy(found)
        if method == "DELETE":
            return 200, fake.delete_object(key)
        if method == "PATCH":
            return self._patch(api_version, plural, ns, name, query, kind)
        raise ApiError(
            405, "MethodNotAllowed", f"the server does not allow this method on {plural}"
        )

    def _patch(
        self,
        api_version: str,
        plural: str,
        ns: str,
        name: str,
        query: dict[str, list[str]],
        kind: str,
    ) -> tuple[int, Obj]:
        body = self.payload
        manager = (query.get("fieldManager") or [""])[0]
        content_type = (self.headers.get("Content-Type") or "").split(";")[0]
        if content_type != "application/apply-patch+yaml":
            obj = self.fake.merge_update(api_version, plural, ns, name, body, manager or "unknown")
            return 200, obj
        if not manager:
            raise ApiError(
                422,
                "Invalid",
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: '
                "Required value: is required for apply patch",
            )
        if body.get("kind") != kind or body.get("apiVersion") != api_version:
            raise ApiError(
                400,
                "BadRequest",
                f"the body of the request was in an unknown format: "
                f"expected {api_version}, Kind={kind}",
            )
        if (body.get("metadata") or {}).get("name") != name:
            raise ApiError(
                400, "BadRequest", "the name of the object does not match the name on the URL"
            )
        force = (query.get("force") or ["false"])[0] == "true"
        dry_run = "All" in (query.get("dryRun") or [])
        key = (api_version, plural, ns, name)
        obj, created = self.fake.apply(key, body, manager, force=force, dry_run=dry_run)
        return (201 if created else 200), obj

    def do_GET(self) -> None:
        """Answer GET."""
        self._handle("GET")

    def do_PATCH(self) -> None:
        """Answer PATCH."""
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        """Answer DELETE."""
        self._handle("DELETE")
