"""`manage.py lightningsync_test_connection EMAIL [--json]`: the connection test (SPEC §6)
for one rep's mailbox, printed step by step as each completes.

Exits 0 when the test is successful (with or without warnings), 1 when a step failed: the
last line names the failing step. `--json` prints one object with every step at the end.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lightningsync.models import ConnectionTestRun
from syncengine.connectiontest import FAIL, SUMMARIES, Step, perform

MARKS = {"pass": "✓", "warning": "!", "fail": "✗", "skipped": "-"}


class Command(BaseCommand):
    help = "Test the connection to one rep's Exchange mailbox, read-only, step by step."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="The rep's email address (their mailbox).")
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        as_json = options["json"]
        run = ConnectionTestRun.objects.create(email=options["email"].strip())
        shown: set[str] = set()

        def show(step: Step) -> None:
            if as_json or step.key in shown:
                return
            shown.add(step.key)
            self.stdout.write(line(step))

        run = perform(run.pk, on_step=None if as_json else show)
        if as_json:
            self.stdout.write(json.dumps({
                "email": run.email, "outcome": run.outcome,
                "summary": SUMMARIES[run.outcome], "steps": run.steps,
            }, indent=2))
        else:
            self.stdout.write(SUMMARIES[run.outcome])
        failed = [s for s in run.steps if s["status"] == FAIL]
        if failed:
            raise CommandError(f"{failed[0]['title']}: {failed[0]['detail']}")


def line(step: Step) -> str:
    said = f"{MARKS[step.status]} {step.title}: {step.detail}"
    if step.suggestion and step.status != "pass":
        said += f"\n    → {step.suggestion}"
    return said
