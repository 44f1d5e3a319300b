"""A ThreadingHTTPServer on 127.0.0.1 served from a daemon thread: the lifecycle the local API
server and the Athena emulator share (start, url, stop that also ends keep-alive connections)."""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import ThreadingHTTPServer
from typing import Any


class LoopbackHTTPServer(ThreadingHTTPServer):
    """Binds 127.0.0.1 only and remembers open connections so ``stop`` can end them."""

    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, port: int, handler_class: type) -> None:
        self.connections: set[socket.socket] = set()
        super().__init__(("127.0.0.1", port), handler_class)


class BackgroundServer:
    """Start/stop a LoopbackHTTPServer in a daemon thread; a context manager. Subclasses build the
    server in ``_make_server``."""

    thread_name = "loopback-server"
    poll_interval = 0.1

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._httpd: LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _make_server(self) -> LoopbackHTTPServer:
        raise NotImplementedError

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError(f"the {self.thread_name} is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Any:
        if self._httpd is None:
            self._httpd = self._make_server()
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": self.poll_interval},
                name=self.thread_name,
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        for conn in list(httpd.connections):  # end keep-alive connections too
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()
