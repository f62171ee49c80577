"""python -m exchangesim --port P --service-account USER:PASSWORD --mailbox SMTP ...

Microsoft Graph: --tls --ca-out CA.pem --tenant T --app CLIENT_ID:SECRET [--app-scope ...]
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from .control import VERSIONS, Simulator
from .server import SimServer, is_loopback
from .tls import make_tls


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m exchangesim", description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument(
        "--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)"
    )
    p.add_argument("--data", help="JSON file to load state from and save it to")
    p.add_argument(
        "--autosave",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="save --data this often when changed (default 2; 0: only when stopping)",
    )
    p.add_argument("--service-account", action="append", default=[], metavar="USER:PASSWORD")
    p.add_argument("--mailbox", action="append", default=[], metavar="SMTP")
    p.add_argument(
        "--scope",
        action="append",
        default=[],
        metavar="USER=SMTP,SMTP",
        help="limit a service account's impersonation to these mailboxes",
    )
    p.add_argument("--version", default="Exchange2016", choices=sorted(VERSIONS))
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument(
        "--tls", action="store_true", help="serve https with a new throwaway CA (needs --ca-out)"
    )
    p.add_argument("--ca-out", metavar="FILE", help="where --tls writes its CA certificate (PEM)")
    g = p.add_argument_group("Microsoft Graph and its token endpoint")
    g.add_argument("--tenant", action="append", default=[], metavar="T", help="tenant name or id")
    g.add_argument("--app", action="append", default=[], metavar="CLIENT_ID:SECRET")
    g.add_argument(
        "--app-cert",
        action="append",
        default=[],
        metavar="CLIENT_ID:PEMFILE",
        help="a certificate the app signs client assertions with",
    )
    g.add_argument(
        "--app-scope",
        action="append",
        default=[],
        metavar="CLIENT_ID=SMTP,SMTP",
        help="the app's RBAC for Applications scope (mailboxes it may reach)",
    )
    g.add_argument(
        "--app-roles",
        action="append",
        default=[],
        metavar="CLIENT_ID=ROLE,ROLE",
        help="granted application permissions (default Contacts.ReadWrite,Calendars.Read)",
    )
    g.add_argument(
        "--app-no-consent",
        action="append",
        default=[],
        metavar="CLIENT_ID",
        help="an app whose permissions no admin consented to (tokens without roles)",
    )
    g.add_argument("--token-lifetime", type=int, default=3599, metavar="SECONDS")
    p.add_argument("--verbose", action="store_true")
    return p.parse_args(argv)


def build(args: argparse.Namespace) -> SimServer:
    if not is_loopback(args.host):
        raise SystemExit(f"refusing to bind {args.host}: exchangesim serves loopback only")
    sim = Simulator(version=args.version, data_file=args.data)
    for spec in args.service_account:
        user, sep, password = spec.partition(":")
        if not sep:
            raise SystemExit(f"--service-account needs USER:PASSWORD, got {spec!r}")
        sim.add_service_account(user, password)
    for smtp in args.mailbox:
        sim.add_mailbox(smtp)
    for spec in args.scope:
        user, sep, boxes = spec.partition("=")
        if not sep:
            raise SystemExit(f"--scope needs USER=SMTP,SMTP, got {spec!r}")
        sim.set_scope(user, [b.strip() for b in boxes.split(",") if b.strip()])
    _add_apps(sim, args)
    cert, key = args.tls_cert, args.tls_key
    if args.tls:
        if not args.ca_out:
            raise SystemExit("--tls needs --ca-out FILE (where clients find the CA to trust)")
        tls_dir = Path(tempfile.mkdtemp(prefix="exchangesim-tls-"))
        atexit.register(shutil.rmtree, tls_dir, True)
        _ca, cert, key = make_tls(tls_dir, Path(args.ca_out))
    return SimServer(
        sim, args.host, args.port, cert, key, args.verbose, autosave_seconds=args.autosave
    )


def _split(spec: str, sep: str, flag: str, form: str) -> tuple[str, str]:
    left, found, right = spec.partition(sep)
    if not found or not left or not right:
        raise SystemExit(f"{flag} needs {form}, got {spec!r}")
    return left, right


def _add_apps(sim: Simulator, args: argparse.Namespace) -> None:
    for tenant in args.tenant:
        sim.add_tenant(tenant)
    if (args.app or args.app_cert) and not args.tenant:
        raise SystemExit("--app and --app-cert need --tenant T")
    for spec in args.app:
        client_id, secret = _split(spec, ":", "--app", "CLIENT_ID:SECRET")
        sim.add_app(client_id, secret=secret)
    for spec in args.app_cert:
        client_id, path = _split(spec, ":", "--app-cert", "CLIENT_ID:PEMFILE")
        try:
            pem = Path(path).read_text(encoding="ascii")
            sim.add_app(client_id, cert_pem=pem)
        except (OSError, ValueError) as e:
            raise SystemExit(f"--app-cert {spec!r}: {e}") from None
    try:
        for spec in args.app_scope:
            client_id, boxes = _split(spec, "=", "--app-scope", "CLIENT_ID=SMTP,SMTP")
            sim.set_app_scope(client_id, [b.strip() for b in boxes.split(",") if b.strip()])
        for spec in args.app_roles:
            client_id, roles = _split(spec, "=", "--app-roles", "CLIENT_ID=ROLE,ROLE")
            sim.set_app_roles(client_id, [r.strip() for r in roles.split(",") if r.strip()])
        for client_id in args.app_no_consent:
            sim.set_app_consent(client_id, False)
    except ValueError as e:
        raise SystemExit(str(e)) from None
    sim.set_token_lifetime(args.token_lifetime)


def main(argv: list[str] | None = None) -> int:
    # The handler goes in before the server answers: a SIGTERM that arrives right after the
    # first request must still save --data, not kill the process with the default action.
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    server = build(parse_args(argv)).start()
    sim = server.sim
    graph = ""
    if sim.store.directory.tenants:
        graph = f"  Graph {sim.graph_url}  authority {sim.authority()}"
    print(
        f"exchangesim listening: EWS {server.ews_url}{graph}  control {server.base_url}/_sim/",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
