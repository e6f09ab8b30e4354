"""A TCP proxy in front of a database server, that a test can cut: the database goes away.

    with TcpProxy("127.0.0.1", 5432) as proxy:      # then connect to proxy.port instead
        proxy.cut()          # every connection closed, new ones refused: a server restart
        proxy.blackhole()    # connections accepted and never answered: a host cut off
        proxy.restore()      # back to normal

Threads and blocking sockets, so it runs beside anything (an event loop, worker threads).
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator

from sqlalchemy.engine import make_url

NORMAL, CUT, BLACKHOLE = "normal", "cut", "blackhole"


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``host``:``target_port`` while it is ``normal``."""

    def __init__(self, host: str, target_port: int) -> None:
        self.target = (host, target_port)
        self.mode = NORMAL
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)

    def url_for(self, url: str) -> str:
        """``url`` (a database URL pointing at the target) pointing at the proxy instead."""
        return (
            make_url(url)
            .set(host="127.0.0.1", port=self.port)
            .render_as_string(hide_password=False)
        )

    def start(self) -> TcpProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        self._listener.close()
        self._close_all()
        self._thread.join(5)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def cut(self) -> None:
        """Close every connection and refuse new ones, as a stopped server does."""
        self.mode = CUT
        self._close_all()

    def blackhole(self) -> None:
        """Close every connection; new ones are accepted and never answered, as when the
        database's host is cut off from the network."""
        self.mode = BLACKHOLE
        self._close_all()

    def restore(self) -> None:
        self.mode = NORMAL

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        self.cut()
        try:
            yield
        finally:
            self.restore()

    def _close_all(self) -> None:
        with self._lock:
            sockets, self._open = self._open, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.mode == CUT:
                client.close()  # a refused connection, as near as a listening socket gets
                continue
            self._track(client)
            if self.mode == BLACKHOLE:
                continue  # held open, never answered
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            self._track(upstream)
            threading.Thread(
                target=self._pipe, args=(client, upstream), name="tcp-proxy-pipe", daemon=True
            ).start()

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        pair = {client: upstream, upstream: client}
        try:
            while self.mode == NORMAL and not self._closing.is_set():
                readable, _, _ = select.select(list(pair), [], [], 0.2)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    pair[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.close()
