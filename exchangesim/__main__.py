"""python -m exchangesim --port P --service-account USER:PASSWORD --mailbox SMTP ..."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from .control import VERSIONS, Simulator
from .server import SimServer, is_loopback


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
    return SimServer(
        sim,
        args.host,
        args.port,
        args.tls_cert,
        args.tls_key,
        args.verbose,
        autosave_seconds=args.autosave,
    )


def main(argv: list[str] | None = None) -> int:
    server = build(parse_args(argv)).start()
    print(
        f"exchangesim listening: EWS {server.ews_url}  control {server.base_url}/_sim/", flush=True
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
