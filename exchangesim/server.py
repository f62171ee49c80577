"""HTTP(S) front of the simulator: EWS, Autodiscover and the /_sim/ control API.

ThreadingHTTPServer with HTTP/1.1 keep-alive (exchangelib keeps its sessions open; a new
TCP connection per request would halve throughput). The store lock is only held inside the
EWS handler, never while reading a request or writing a response.

Responses go out the way IIS sends them: TCP_NODELAY on every accepted socket and the
headers and body of a response in one write. Headers and body in two writes without
TCP_NODELAY stall every small response ~40 ms (Nagle waits for the client's delayed ACK).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import http.server
import ipaddress
import json
import socket
import ssl
import struct
import threading
import time
import urllib.parse
from typing import Any

from . import autodiscover, ews, graph_endpoint
from .control import Simulator
from .faults import KINDS
from .ntlm import NtlmSession
from .store import SimError

REALM = "exchangesim"
CHALLENGES = (f'Basic realm="{REALM}"', "NTLM")

# Control API: method name -> HTTP verb allowed. Arguments are JSON (POST) or query (GET).
CONTROL_METHODS = {
    "mailboxes": "GET",
    "folders": "GET",
    "folder_id": "GET",
    "items": "GET",
    "item": "GET",
    "occurrences": "GET",
    "counts": "GET",
    "handler_seconds": "GET",
    "request_count": "GET",
    "sid": "GET",
    "add_mailbox": "POST",
    "add_service_account": "POST",
    "set_scope": "POST",
    "set_quota": "POST",
    "refuse_folder": "POST",
    "create_folder": "POST",
    "create_item": "POST",
    "create_contact": "POST",
    "create_event": "POST",
    "create_distribution_list": "POST",
    "update_item": "POST",
    "set_categories": "POST",
    "set_sensitivity": "POST",
    "set_extended_property": "POST",
    "move_item": "POST",
    "delete_item": "POST",
    "modify_occurrence": "POST",
    "delete_occurrence": "POST",
    "add_fault": "POST",
    "clear_faults": "POST",
    "reset_counters": "POST",
    "set_version": "POST",
    "set_ntlm": "POST",
    "save": "POST",
    # Microsoft Graph side
    "tenant_id": "GET",
    "apps": "GET",
    "user_id": "GET",
    "graph_id": "GET",
    "ews_id": "GET",
    "add_tenant": "POST",
    "add_app": "POST",
    "set_app_consent": "POST",
    "set_app_scope": "POST",
    "set_app_roles": "POST",
    "issue_token": "POST",
    "expire_tokens": "POST",
    "set_token_lifetime": "POST",
    "forget_delta_states": "POST",
}


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # StreamRequestHandler sets TCP_NODELAY in setup()
    # A buffered wfile: headers and body leave in one write when `_send` flushes; a body
    # larger than the buffer goes out in the next write (Nagle is off, so no stall).
    wbufsize = 64 * 1024
    server: SimHTTPServer
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    # -- helpers ---------------------------------------------------------------------------
    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/xml; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True

    def _challenge(self) -> None:
        body = b"401 - Unauthorized: Access is denied due to invalid credentials."
        ntlm = getattr(self, "_ntlm_challenge", None)
        try:
            self.send_response(401)
            for c in [f"NTLM {ntlm}"] if ntlm else CHALLENGES:
                self.send_header("WWW-Authenticate", c)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _reset(self) -> None:
        """Drop the TCP connection with a RST and no response (SO_LINGER 0)."""
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.close()

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _user(self) -> str | None:
        """The signed-in user (Basic, or NTLM for the whole connection), or None; an NTLM
        handshake in progress leaves its CHALLENGE in `self._ntlm_challenge`."""
        self._ntlm_challenge: str | None = None
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("ntlm ") and self.server.sim.ntlm:
            if getattr(self, "_ntlm", None) is None:
                self._ntlm = NtlmSession(self.server.sim.store)
            user, self._ntlm_challenge = self._ntlm.step(auth[5:].strip())
            return user if user and user in self.server.sim.store.accounts else None
        if not auth:
            ntlm = getattr(self, "_ntlm", None)
            return ntlm.user if ntlm is not None else None
        if not auth.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user if self.server.sim.store.check_password(user, password) else None

    # -- verbs -----------------------------------------------------------------------------
    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if graph_endpoint.is_graph(path):
            self._graph("GET")
        elif graph_endpoint.is_auth("GET", path):
            self._auth("GET")
        elif path.startswith("/_sim/"):
            self._control("GET")
        elif path.lower() in ("/ews/exchange.asmx", "/autodiscover/autodiscover.svc"):
            self._body()
            if self._user() is None:
                self._challenge()
            else:
                self._send(405, b"Use POST")
        else:
            self._send(404, b"Not found", "text/plain")

    def do_HEAD(self) -> None:
        self._send(200, b"", "text/plain")

    def do_DELETE(self) -> None:
        if graph_endpoint.is_graph(urllib.parse.urlsplit(self.path).path):
            self._graph("DELETE")
        else:
            self._control("POST")

    def do_PATCH(self) -> None:
        if graph_endpoint.is_graph(urllib.parse.urlsplit(self.path).path):
            self._graph("PATCH")
        else:
            self._body()
            self._send(404, b"Not found", "text/plain")

    def do_POST(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        lower = path.lower()
        if graph_endpoint.is_graph(path):
            self._graph("POST")
            return
        if graph_endpoint.is_auth("POST", path):
            self._auth("POST")
            return
        if path.startswith("/_sim/"):
            self._control("POST")
            return
        if lower not in ("/ews/exchange.asmx", "/autodiscover/autodiscover.svc"):
            self._body()
            self._send(404, b"Not found", "text/plain")
            return
        raw = self._body()
        user = self._user()
        if user is None:
            self._challenge()
            return
        sim = self.server.sim
        if lower.startswith("/autodiscover"):
            started = time.perf_counter()
            status, body = autodiscover.get_user_settings(sim, raw)
            sim.counters.hit("GetUserSettings", None, time.perf_counter() - started)
            self._send(status, body)
            return
        started = time.perf_counter()
        reply = ews.process(sim, raw, user)
        sim.counters.hit(reply.operation, reply.mailbox, time.perf_counter() - started)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.action == "unauthorized":
            self._challenge()
        elif reply.action == "reset":
            self._reset()
        else:
            ctype = reply.headers.pop("Content-Type", "text/xml; charset=utf-8")
            self._send(reply.status, reply.body, ctype, reply.headers)

    # -- Microsoft Graph and the identity platform ------------------------------------------
    def _graph(self, method: str) -> None:
        raw = self._body()
        sim = self.server.sim
        started = time.perf_counter()
        reply = graph_endpoint.process(sim, method, self.path, dict(self.headers.items()), raw)
        sim.counters.hit(reply.operation, reply.mailbox, time.perf_counter() - started)
        self._answer(reply)

    def _auth(self, method: str) -> None:
        raw = self._body()
        sim = self.server.sim
        started = time.perf_counter()
        reply = graph_endpoint.auth(sim, method, self.path, dict(self.headers.items()), raw)
        sim.counters.hit(reply.operation, None, time.perf_counter() - started)
        self._answer(reply)

    def _answer(self, reply: graph_endpoint.Reply) -> None:
        if reply.action == "reset":
            self._reset()
            return
        ctype = reply.headers.pop("Content-Type", "application/json")
        self._send(reply.status, reply.body, ctype, reply.headers)

    # -- control API -----------------------------------------------------------------------
    def _control(self, verb: str) -> None:
        raw = self._body() if verb == "POST" else b""
        if not is_loopback(self.client_address[0]):
            self._send(403, b'{"error": "control API is loopback-only"}', "application/json")
            return
        parts = urllib.parse.urlsplit(self.path)
        name = parts.path[len("/_sim/") :].strip("/")
        if name == "health":
            self._json(200, {"ok": True, "ews_url": self.server.sim.ews_url, "fault_kinds": KINDS})
            return
        if name == "faults" and verb == "GET":
            self._json(200, self.server.sim.faults.list())
            return
        allowed = CONTROL_METHODS.get(name)
        if allowed is None or (allowed == "POST" and verb != "POST"):
            self._json(404, {"error": f"no control method {name!r}"})
            return
        try:
            if verb == "POST":
                kwargs = json.loads(raw or b"{}")
            else:
                kwargs = {k: v[-1] for k, v in urllib.parse.parse_qs(parts.query).items()}
            if name == "occurrences":
                kwargs["start"] = dt.datetime.fromisoformat(kwargs["start"].replace("Z", "+00:00"))
                kwargs["end"] = dt.datetime.fromisoformat(kwargs["end"].replace("Z", "+00:00"))
            result = getattr(self.server.sim, name)(**kwargs)
            if hasattr(result, "__dataclass_fields__"):
                result = {k: getattr(result, k) for k in result.__dataclass_fields__}
            self._json(200, {"result": result})
        except SimError as e:
            self._json(404, {"error": e.code, "message": e.text})
        except (TypeError, ValueError, KeyError) as e:  # DirectoryError is a ValueError
            self._json(400, {"error": type(e).__name__, "message": str(e)})

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode("utf-8"), "application/json")


class SimHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        sim: Simulator,
        ssl_context: ssl.SSLContext | None = None,
        verbose: bool = False,
    ) -> None:
        self.sim = sim
        self.ssl_context = ssl_context
        self.verbose = verbose
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, in the connection's own thread, not in the accept loop.
        if self.ssl_context is not None:
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)


class SimServer:
    """A running simulator: `Simulator` + HTTP(S) server in a background thread."""

    def __init__(
        self,
        sim: Simulator | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        certfile: str | None = None,
        keyfile: str | None = None,
        verbose: bool = False,
        autosave_seconds: float = 2.0,
    ) -> None:
        self.sim = sim or Simulator()
        ctx = None
        if certfile:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(certfile, keyfile)
        self.httpd = SimHTTPServer((host, port), self.sim, ctx, verbose)
        bound = self.httpd.server_address
        self.host, self.port = str(bound[0]), int(bound[1])
        scheme = "https" if ctx else "http"
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.sim.base_url = f"{scheme}://{shown}:{self.port}"
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._autosave = autosave_seconds
        self._saver: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return self.sim.base_url

    @property
    def ews_url(self) -> str:
        return self.sim.ews_url

    def start(self) -> SimServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="exchangesim",
            daemon=True,
        )
        self._thread.start()
        if self.sim.data_file and self._autosave > 0:
            self._saver = threading.Thread(
                target=self._save_loop, name="exchangesim-save", daemon=True
            )
            self._saver.start()
        return self

    def _save_loop(self) -> None:
        while not self._stop.wait(self._autosave):
            if self.sim.store.dirty or self.sim.store.directory.dirty:
                self.sim.save()

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.sim.data_file:
            self.sim.save()
