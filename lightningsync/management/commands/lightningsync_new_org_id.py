"""Give this org a new Org ID: run it on a sandbox cloned from production.

Exchange items carry the Org ID of the org that synced them (SPEC §8); a clone that kept
production's ID would treat production's items as its own.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lightningsync import setupservice
from lightningsync.models import LightningSyncSetup


class Command(BaseCommand):
    help = (
        "Make a new Org ID (for a database cloned from another org). Items synced under the "
        "old ID are no longer recognised as this org's."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        parser.add_argument("--json", action="store_true", help="print machine-readable output")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["yes"]:
            self._confirm(options.get("stdin") or sys.stdin)
        old, new = setupservice.new_org_id(user=None, via="command line")
        if options["json"]:
            self.stdout.write(json.dumps({"old_org_id": str(old), "new_org_id": str(new)}))
        else:
            self.stdout.write(f"Old Org ID: {old}")
            self.stdout.write(f"New Org ID: {new}")

    def _confirm(self, stdin: Any) -> None:
        if not stdin.isatty():
            raise CommandError("Refusing to change the Org ID without --yes (no terminal to ask).")
        current = LightningSyncSetup.load().org_id
        self.stdout.write(
            f"This org's ID is {current}. A new ID means Exchange items synced under the old one "
            "are no longer this org's. Do this only on a cloned sandbox."
        )
        self.stdout.write("Type 'yes' to continue: ", ending="")
        self.stdout.flush()
        if stdin.readline().strip().lower() != "yes":
            raise CommandError("Cancelled; the Org ID is unchanged.")
