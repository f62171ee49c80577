"""Show or change Lightning Sync Setup from a shell, for admins who script their installs.

Every change goes through `setupservice.apply_setup`: the Setup page's rules, the same audit
trail (actor "command line"). Secrets are read from stdin or a file only, so they never sit
in shell history or in the process list.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from lightningsync import setupservice
from lightningsync.models import LightningSyncSetup

OAUTH2 = LightningSyncSetup.ConnectionMethod.OAUTH2

VIA = "command line"

# Section path -> the flag that sets it, so an error names what the admin typed.
FLAGS = {
    "enabled": "--enable/--disable",
    "connection_method": "--method",
    "service_account.username": "--username",
    "service_account.password": "--password-stdin/--password-file",
    "service_account.ews_url": "--ews-url",
    "service_account.autodiscover": "--autodiscover",
    "service_account.auth": "--auth",
    "service_account.additional_domains": "--additional-domains",
    "service_account.ca_bundle": "--ca-bundle",
    "oauth2.tenant_id": "--tenant-id",
    "oauth2.client_id": "--client-id",
    "oauth2.client_secret": "--client-secret-stdin/--client-secret-file",
    "oauth2.certificate": "--certificate-file",
    "oauth2.graph_url": "--graph-url",
    "oauth2.authority_url": "--authority-url",
    "event_selection.enabled": "--event-selection",
    "event_selection.category": "--event-category",
}


def error_line(exc: ValidationError) -> str:
    """All problems on one line, each led by the flag (or setting) it is about."""
    if not hasattr(exc, "error_dict"):
        return " ".join(exc.messages)
    parts = [
        f"{FLAGS.get(path, path)}: {' '.join(messages)}"
        for path, messages in exc.message_dict.items()
    ]
    return "; ".join(parts)


class Command(BaseCommand):
    stealth_options = ("stdin",)
    help = (
        "Show Lightning Sync Setup, or change the settings given as flags (the same rules "
        "and audit trail as the Setup page). Secrets are read from stdin or a file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        enable = parser.add_mutually_exclusive_group()
        enable.add_argument(
            "--enable", dest="enabled", action="store_const", const=True, default=None
        )
        enable.add_argument("--disable", dest="enabled", action="store_const", const=False)
        parser.add_argument(
            "--method", choices=[c.value for c in LightningSyncSetup.ConnectionMethod]
        )
        parser.add_argument("--username", help="user@domain.tld or domain.tld\\user")
        password = parser.add_mutually_exclusive_group()
        password.add_argument(
            "--password-stdin", action="store_true", help="read the service account password"
        )
        password.add_argument("--password-file", metavar="F", type=Path)
        server = parser.add_mutually_exclusive_group()
        server.add_argument("--ews-url", metavar="URL")
        server.add_argument(
            "--autodiscover",
            action="store_true",
            help="find the EWS URL from the service account's email domain",
        )
        parser.add_argument("--auth", choices=[c.value for c in LightningSyncSetup.AuthType])
        parser.add_argument(
            "--additional-domains", metavar="a,b", help="comma-separated; empty to clear"
        )
        parser.add_argument("--tenant-id")
        parser.add_argument("--client-id")
        secret = parser.add_mutually_exclusive_group()
        secret.add_argument(
            "--client-secret-stdin", action="store_true", help="read the OAuth client secret"
        )
        secret.add_argument("--client-secret-file", metavar="F", type=Path)
        parser.add_argument(
            "--certificate-file", metavar="F", type=Path,
            help="PEM file with the app's certificate and its private key (instead of a secret)",
        )
        parser.add_argument(
            "--check-mailbox", metavar="SMTP",
            help="with --method oauth2 --enable: the mailbox to read (default: the first user "
            "in a sync configuration)",
        )
        parser.add_argument("--graph-url")
        parser.add_argument("--authority-url")
        parser.add_argument("--event-selection", choices=["on", "off"])
        parser.add_argument("--event-category", metavar="NAME")
        parser.add_argument(
            "--ca-bundle", metavar="FILE", type=Path, help="PEM file; an empty file clears it"
        )
        parser.add_argument("--json", action="store_true", help="print machine-readable output")

    def handle(self, *args: Any, **options: Any) -> None:
        section = self._section(options)
        secrets = self._secrets(options)
        method = options["method"] or LightningSyncSetup.load().connection_method
        enabling_oauth = options["enabled"] is True and method == OAUTH2
        if enabling_oauth:  # saved first; the check decides about the method and the switch
            section.pop("enabled")
            section.pop("connection_method", None)
        if section or secrets:
            try:
                setup = setupservice.apply_setup(section, user=None, via=VIA, secrets=secrets)
            except ValidationError as exc:
                raise CommandError(error_line(exc)) from None
        else:
            setup = LightningSyncSetup.load()
        if enabling_oauth:
            setup = self._verify_and_enable(
                options["check_mailbox"], quiet=bool(options["json"])
            )
        self._print(
            setup, as_json=options["json"], changed=bool(section or secrets or enabling_oauth)
        )

    def _verify_and_enable(self, mailbox: str | None, *, quiet: bool) -> LightningSyncSetup:
        """OAuth 2.0 is switched on only after a token was acquired and a mailbox read."""
        from syncengine.cycle.oauth_access import verify_oauth_access
        from syncengine.transports.protocol import TransportError

        try:
            checked = verify_oauth_access(LightningSyncSetup.load(), mailbox)
            setup = setupservice.enable_oauth(user=None, via=VIA)
        except TransportError as exc:
            raise CommandError(
                f"--enable: OAuth 2.0 was not enabled: {exc.message} The other settings given "
                "were saved."
            ) from None
        except ValidationError as exc:
            raise CommandError(error_line(exc)) from None
        if not quiet:
            self.stdout.write(
                f"OAuth 2.0 verified: a token was acquired and the mailbox {checked} was read."
            )
        return setup

    # --- flags -> a partial section ---------------------------------------------------------

    def _section(self, options: dict[str, Any]) -> dict[str, Any]:
        section: dict[str, Any] = {}
        service: dict[str, Any] = {}
        oauth: dict[str, Any] = {}
        events: dict[str, Any] = {}
        if options["enabled"] is not None:
            section["enabled"] = options["enabled"]
        if options["method"] is not None:
            section["connection_method"] = options["method"]
        if options["username"] is not None:
            service["username"] = options["username"]
        if options["ews_url"] is not None:
            service["ews_url"] = options["ews_url"]
            service["autodiscover"] = False
        if options["autodiscover"]:
            service["autodiscover"] = True
            service["ews_url"] = ""
        if options["auth"] is not None:
            service["auth"] = options["auth"]
        if options["additional_domains"] is not None:
            service["additional_domains"] = options["additional_domains"]
        if options["ca_bundle"] is not None:
            service["ca_bundle"] = self._read_file(options["ca_bundle"], "--ca-bundle")
        for flag, key in (
            ("tenant_id", "tenant_id"),
            ("client_id", "client_id"),
            ("graph_url", "graph_url"),
            ("authority_url", "authority_url"),
        ):
            if options[flag] is not None:
                oauth[key] = options[flag]
        if options["event_selection"] is not None:
            events["enabled"] = options["event_selection"] == "on"
        if options["event_category"] is not None:
            events["category"] = options["event_category"]
        for key, group in (
            ("service_account", service),
            ("oauth2", oauth),
            ("event_selection", events),
        ):
            if group:
                section[key] = group
        return section

    def _secrets(self, options: dict[str, Any]) -> dict[str, str]:
        if options["password_stdin"] and options["client_secret_stdin"]:
            raise CommandError(
                "--password-stdin and --client-secret-stdin cannot share stdin; "
                "read one of them from a file."
            )
        secrets: dict[str, str] = {}
        stdin = options.get("stdin") or sys.stdin
        if options["password_stdin"]:
            secrets["service_account_password"] = self._read_stdin(stdin, "--password-stdin")
        elif options["password_file"] is not None:
            secrets["service_account_password"] = self._read_file(
                options["password_file"], "--password-file"
            )
        if options["certificate_file"] is not None:
            secrets["oauth_certificate"] = self._read_file(
                options["certificate_file"], "--certificate-file"
            )
        if options["client_secret_stdin"]:
            secrets["oauth_client_secret"] = self._read_stdin(stdin, "--client-secret-stdin")
        elif options["client_secret_file"] is not None:
            secrets["oauth_client_secret"] = self._read_file(
                options["client_secret_file"], "--client-secret-file"
            )
        return secrets

    @staticmethod
    def _read_stdin(stream: TextIO, flag: str) -> str:
        if stream.isatty():
            raise CommandError(f'{flag}: pipe the secret in, e.g. `printf %s "$SECRET" | …`.')
        return str(stream.read()).rstrip("\r\n")

    @staticmethod
    def _read_file(path: Path, flag: str) -> str:
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise CommandError(f"{flag}: cannot read {path}: {exc.strerror}.") from None
        except UnicodeDecodeError:
            raise CommandError(f"{flag}: {path} is not UTF-8 text.") from None

    # --- output -----------------------------------------------------------------------------

    def _print(self, setup: LightningSyncSetup, *, as_json: bool, changed: bool) -> None:
        status = setupservice.secret_status(setup)
        if as_json:
            document = {
                "setup": setupservice.export_setup(setup),
                "secrets": {
                    name: "set" if present else "not set" for name, present in status.items()
                },
                "ca_bundle": "set" if setup.ca_bundle else "not set",
                "oauth_access_accepted": setup.oauth_token_acquired_at is not None,
                "org_id": str(setup.org_id),
            }
            self.stdout.write(json.dumps(document, indent=2))
            return
        if changed:
            self.stdout.write("Lightning Sync Setup saved.")
        for label, value in describe(setup):
            self.stdout.write(f"{label + ':':<42} {value}")


def describe(setup: LightningSyncSetup) -> list[tuple[str, str]]:
    """Human-readable settings, secrets reduced to set/not set."""
    status = setupservice.secret_status(setup)

    def yes_no(value: bool) -> str:
        return "on" if value else "off"

    def set_or_not(value: bool) -> str:
        return "set" if value else "not set"

    return [
        ("Enable Lightning Sync", yes_no(setup.enabled)),
        ("Connection method", setup.get_connection_method_display()),
        ("Service account user name", setup.service_account_username or "—"),
        ("Service account password", set_or_not(status["service_account_password"])),
        ("EWS URL", setup.ews_url or "—"),
        ("Autodiscover", yes_no(setup.autodiscover)),
        ("Authentication", setup.get_auth_type_display()),
        ("Trusted CA bundle", set_or_not(bool(setup.ca_bundle))),
        ("Additional domains", ", ".join(setup.additional_domain_list) or "—"),
        ("Tenant ID", setup.oauth_tenant_id or "—"),
        ("Application (client) ID", setup.oauth_client_id or "—"),
        ("Client secret", set_or_not(status["oauth_client_secret"])),
        ("Client certificate", set_or_not(status["oauth_certificate"])),
        ("Graph base URL", setup.graph_url),
        ("Authority host", setup.authority_url),
        ("OAuth 2.0 access accepted", "yes" if setup.oauth_token_acquired_at else "no"),
        ("Event selection (Lightning for Outlook)", yes_no(setup.event_selection_enabled)),
        ("Event selection category", setup.event_category),
        ("Org ID", str(setup.org_id)),
    ]
