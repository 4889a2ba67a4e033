"""What the sandbox HTTP servers share: a threaded server bound at construction, served from a
daemon thread, usable as a context manager."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeVar

_Serving = TypeVar("_Serving", bound="BackgroundServing")


class SandboxHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows the sandbox object its handlers answer for."""

    daemon_threads = True
    # The default backlog of 5 drops SYNs under a burst of parallel clients, which then wait 1 s
    # for the retransmission.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], sandbox: Any) -> None:
        super().__init__(address, handler)
        self.sandbox = sandbox


class BackgroundServing:
    """``start()`` / ``stop()`` / ``with`` for a sandbox whose ``_server`` is already bound."""

    _server: SandboxHTTPServer
    _thread: threading.Thread | None = None
    url: str

    def bind(self, host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> None:
        """Bind the socket now, so ``url`` is known before serving starts."""
        self._server = SandboxHTTPServer((host, port), handler, self)
        bound_host, bound_port = self._server.server_address[:2]
        self.url = f"http://{bound_host}:{bound_port}"

    def start(self: _Serving) -> _Serving:
        """Serve requests from a daemon thread; returns ``self`` for chaining."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                # A short poll keeps stop() quick (the default 0.5 s adds up over a test session).
                kwargs={"poll_interval": 0.02},
                name=f"{type(self).__name__}-{self.url}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self: _Serving) -> _Serving:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
