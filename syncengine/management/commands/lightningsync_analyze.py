"""`manage.py lightningsync_analyze EMAIL --folder contacts|calendar`: the seed's Remote
Connectivity Analyzer run with Lightning Sync's parameters (SPEC §6), printing every step and
what it saw: the target mailbox, the service account, Autodiscover or the EWS URL, the
connection, impersonation by SMTP address and the predefined folder. Read-only.

Exits 0 on "Connectivity Test Successful" (with or without warnings), 1 otherwise.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lightningsync.models import ConnectionTestRun, LightningSyncSetup
from syncengine.connectiontest import FAIL, SKIPPED, WARNING, perform


class Command(BaseCommand):
    help = "Walk the Remote Connectivity Analyzer's steps for one rep and print what each saw."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="Target mailbox email address (a rep's).")
        parser.add_argument("--folder", choices=("contacts", "calendar"), default="contacts",
                            help="The predefined folder to test.")

    def handle(self, *args: Any, **options: Any) -> None:
        email, folder = options["email"].strip(), options["folder"]
        setup = LightningSyncSetup.load()
        say = self.stdout.write
        say(f"Target mailbox email address: {email}")
        if setup.connection_method == LightningSyncSetup.ConnectionMethod.OAUTH2:
            say(f"App registration: tenant {setup.oauth_tenant_id or '(none)'}; client ID "
                f"{setup.oauth_client_id or '(none)'}; "
                f"{'secret or certificate given' if setup.has_oauth_credential else 'no secret or certificate'}")  # noqa: E501
            say(f"Server settings: Microsoft Graph {setup.graph_url or '(none)'}, authority "
                f"{setup.authority_url or '(none)'}")
            say(f"Test predefined folder: {folder.capitalize()}")
            say(f"Application access: the app reads {email} by its SMTP address (RBAC for "
                "Applications)")
        else:
            say(f"Service account user name: {setup.service_account_username or '(none)'}; "
                f"password {'given' if setup.has_service_account_password else 'missing'}; "
                f"authentication {setup.get_auth_type_display()}")
            server = (setup.ews_url or "(none)") if not setup.autodiscover else ""
            say("Server settings: " + (f"EWS URL {server}" if server
                                       else "Use Autodiscover to detect server settings"))
            say(f"Test predefined folder: {folder.capitalize()}")
            say(f"Use Exchange Impersonation: impersonated user {email}, identified by SMTP "
                "Address")
        say("")
        run = ConnectionTestRun.objects.create(email=email)
        seen: dict[str, str] = {}
        extra: list[str] = []

        def show(step: Any) -> None:
            if seen.get(step.key) == step.status:
                return
            seen[step.key] = step.status
            if folder == "calendar" and step.key == "contacts":
                return
            if folder == "contacts" and step.key == "calendar":
                return
            mark = {"pass": "✓", "warning": "!", "fail": "✗", "skipped": "-"}[step.status]
            say(f"{mark} {step.title}: {step.detail}")
            if step.status in (FAIL, WARNING) and step.suggestion:
                say(f"    → {step.suggestion}")

        run = perform(run.pk, on_step=show)
        relevant = [s for s in run.steps
                    if s["key"] != ("contacts" if folder == "calendar" else "calendar")]
        if folder == "calendar" and not any(s["status"] == FAIL for s in relevant):
            extra.append(self._calendar_items(setup, email))
        for line in extra:
            say(line)
        statuses = {s["status"] for s in relevant}
        if FAIL in statuses or SKIPPED in statuses:
            say("Connectivity Test Failed")
            failed = next(s for s in run.steps if s["status"] == FAIL)
            raise CommandError(f"{failed['title']}: {failed['detail']}")
        say("Connectivity Test Successful with Warnings" if WARNING in statuses
            else "Connectivity Test Successful")

    def _calendar_items(self, setup: LightningSyncSetup, email: str) -> str:
        from syncengine.mailbox import settings_for
        from syncengine.transports.probing import ProbeFailed

        probe: Any = None
        try:
            if setup.connection_method == LightningSyncSetup.ConnectionMethod.OAUTH2:
                from syncengine.transports.graph.probe import GraphProbe

                probe = GraphProbe(settings_for(setup, email))
            else:
                from syncengine.transports.ews.probe import Probe

                probe = Probe(settings_for(setup, email), tag="analyzer")
            count = probe.count_calendar()
        except ProbeFailed as failed:
            return f"✗ Calendar items: {failed.message}"
        finally:
            if probe is not None:
                probe.close()
        plural = "s" if count != 1 else ""
        return f"✓ Calendar items: the rep's Calendar holds {count} item{plural}."
