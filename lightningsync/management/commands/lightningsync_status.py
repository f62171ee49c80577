"""`manage.py lightningsync_status [--user EMAIL] [--json]`: the Lightning Sync Status page's
rows (SPEC §7, §15), with the seed's labels: the system statuses, and a user's with --user.

Plain output is one line per row ("Label value"), each table under its title; --json prints
the tables with each row's value, case, meaning and next step. Exits 1 with one line when
the user is unknown.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lightningsync import statuses, userlookup


class Command(BaseCommand):
    help = "Print Lightning Sync's statuses: the system's, and a user's with --user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", metavar="EMAIL", help="Also print this user's statuses.")
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        result: dict[str, Any] = {"system": statuses.org_tables()}
        if options["user"]:
            user = userlookup.by_email(options["user"])
            if user is None:
                raise CommandError(f"No user has the email {options['user']}.")
            result["user"] = {"email": user.email, "name": user.get_full_name(),
                              "tables": statuses.user_tables(user)}
        if options["json"]:
            out: dict[str, Any] = {"system": statuses.as_json(result["system"])}
            if "user" in result:
                out["user"] = {**result["user"],
                               "tables": statuses.as_json(result["user"]["tables"])}
            self.stdout.write(json.dumps(out, indent=2, ensure_ascii=False))
            return
        self._print("System Statuses", result["system"])
        if "user" in result:
            who = result["user"]
            self._print(f"User Statuses: {who['name'] or who['email']} <{who['email']}>",
                        who["tables"])

    def _print(self, heading: str, tables: list[statuses.Table]) -> None:
        self.stdout.write(heading)
        for table in tables:
            self.stdout.write(f"  {table.title}")
            for row in table.rows:
                self.stdout.write(f"    {row.label} {row.value}")
