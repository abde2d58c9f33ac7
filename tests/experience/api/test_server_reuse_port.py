"""Several replicas on one host listen on one port (SO_REUSEPORT)."""

from __future__ import annotations

import socket

from tests.support import free_port

from plinth.experience.api.server import _reuse_port_socket


def test_two_listeners_share_one_port_and_take_connections() -> None:
    port = free_port()
    first = _reuse_port_socket("127.0.0.1", port)
    second = _reuse_port_socket("127.0.0.1", port)
    clients: list[socket.socket] = []
    try:
        assert first.getsockname() == second.getsockname() == ("127.0.0.1", port)
        for _ in range(8):
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        first.setblocking(False)
        second.setblocking(False)
        accepted = 0
        for listener in (first, second):
            while True:
                try:
                    conn, _ = listener.accept()
                except BlockingIOError:
                    break
                conn.close()
                accepted += 1
        assert accepted == len(clients)
    finally:
        for sock in (*clients, first, second):
            sock.close()
