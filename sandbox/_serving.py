"""What the sandbox HTTP servers share: a threaded server bound at construction, served from a
daemon thread, usable as a context manager."""

from __future__ import annotations

import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Protocol, TypeVar

_Serving = TypeVar("_Serving", bound="BackgroundServing")


class Reply(Protocol):
    """An HTTP answer of a sandbox (each sandbox has its own dataclass of this shape)."""

    status: int
    body: bytes
    content_type: str | None
    headers: tuple[tuple[str, str], ...]


class SandboxRequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive front end; subclasses implement ``_serve`` and answer via ``_write``."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, Nagle + delayed ACK add ~40 ms.
    disable_nagle_algorithm = True
    server: SandboxHTTPServer

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        raise NotImplementedError

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        if self.close_connection:
            # Say so: a client that does not know would reuse the socket and race the close.
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and reply.body:
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: test output stays readable (and tokens in request lines never reach any log)."""


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


def serve_until_signalled(server: BackgroundServing, ready_line: str) -> None:
    """Serve ``server`` in the foreground: print ``ready_line`` once it serves, stop on SIGINT/SIGTERM."""
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    # Blocked before the serving thread starts (threads inherit the mask), so either signal waits
    # for sigwait below instead of interrupting whichever thread it lands on.
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    with server:
        print(ready_line, flush=True)
        signal.sigwait(stop_signals)
