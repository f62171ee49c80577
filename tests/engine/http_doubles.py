"""Stand-ins for what may answer at a configured URL, and a fake network to reach them.

`RecordingServer` answers every request with what its `respond` callable returns and keeps
each connection and request it saw. `FakeNetwork` makes host names resolve where a test says
and routes connections to a made-up address (a metadata service) to a local server, so a
test sees whether anything would have reached that address.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Responder = Callable[["_Handler", SeenRequest], Answer]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.owner.connections += 1

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        seen = SeenRequest(
            self.command, self.path, dict(self.headers.items()), self.rfile.read(length)
        )
        self.server.owner.requests.append(seen)
        answer = self.server.owner.respond(self, seen)
        self.send_response(answer.status)
        headers = {"Content-Type": "text/html", **answer.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    do_GET = do_POST = _serve


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: RecordingServer


class RecordingServer:
    def __init__(self, respond: Responder | None = None) -> None:
        self.respond: Responder = respond or (lambda handler, seen: Answer(200, b"ok"))
        self.requests: list[SeenRequest] = []
        self.connections = 0
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class FakeNetwork:
    """`names`: host name -> the IP addresses it resolves to; `routes`: IP -> local port
    that answers for it (anything else resolves and connects as usual)."""

    def __init__(self) -> None:
        self.names: dict[str, list[str]] = {}
        self.routes: dict[str, int] = {}
        self.connects: list[tuple[str, int]] = []


@contextmanager
def fake_network(monkeypatch: Any) -> Iterator[FakeNetwork]:
    network = FakeNetwork()
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        addresses = network.names.get(str(host).lower().rstrip("."))
        if addresses is None:
            return real_getaddrinfo(host, port, *args, **kwargs)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
             (a, int(port or 0), 0, 0) if ":" in a else (a, int(port or 0)))
            for a in addresses
        ]

    def connect(sock: socket.socket, address: Any) -> None:
        network.connects.append((address[0], address[1]))
        port = network.routes.get(address[0])
        if port is not None:
            # The made-up address answers through the loopback server standing in for it.
            return real_connect(sock, ("127.0.0.1", port))
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    yield network
