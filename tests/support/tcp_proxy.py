"""A TCP forwarder standing in for a load balancer in front of gateway replicas.

Each new connection goes to the first upstream that accepts it, starting after the one used last, so
clients (the session runner) switch replicas when one dies, as they would behind a real balancer.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    def __init__(self, upstreams: list[int]) -> None:
        self.upstreams = upstreams
        self.next = 0
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.port = int(self.server.getsockname()[1])
        self.closed = False
        threading.Thread(target=self._accept, name="tcp-proxy", daemon=True).start()

    def _upstream(self) -> socket.socket | None:
        for i in range(len(self.upstreams)):
            port = self.upstreams[(self.next + i) % len(self.upstreams)]
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=2)
            except OSError:
                continue
            self.next = (self.next + i + 1) % len(self.upstreams)
            conn.settimeout(None)
            return conn
        return None

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = self._upstream()
            if upstream is None:
                client.close()
                continue
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()

    def close(self) -> None:
        self.closed = True
        self.server.close()
