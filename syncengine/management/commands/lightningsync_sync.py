"""`manage.py lightningsync_sync [--user EMAIL ...] [--all]`: one cycle now, synchronously.

Exits 0 only when every user it ran completed a cycle (SPEC §15). Otherwise it names each
user that did not, one line each on stderr (paused, backing off, busy with another worker,
failed, or skipped), and exits 1. A skip counts: a user named with --user cannot sync
(Lightning Sync is off, or the user is in no active configuration), and --all only runs the
users an active configuration governs, so a skip there means Setup stops them all.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models.functions import Lower

from lightningsync.effective import syncing_users
from lightningsync.models import User
from syncengine.cycle.runner import Outcome, SyncReport, sync_user


class Command(BaseCommand):
    help = "Run one sync cycle now for the given users (or every syncing user)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", action="append", default=[], metavar="EMAIL",
                            help="A user to sync, by email; repeat for several.")
        parser.add_argument("--all", action="store_true", help="Sync every syncing user.")

    def handle(self, *args: Any, **options: Any) -> None:
        users = self._users(options["user"], options["all"])
        if not users:
            self.stdout.write("No user is in an active sync configuration: nothing to sync.")
            return
        problems = 0
        for user in users:
            report = self._sync(user)
            line = f"{user.email}: {report.summary()}"
            if report.outcome == Outcome.SYNCED:
                self.stdout.write(line)
            else:
                problems += 1
                self.stderr.write(line)
        if problems:
            raise CommandError(f"{problems} of {len(users)} users did not sync (see above).")

    def _users(self, emails: list[str], everyone: bool) -> list[User]:
        if not emails and not everyone:
            raise CommandError("Name users with --user EMAIL, or use --all.")
        if everyone:
            return list(User.objects.filter(pk__in=syncing_users()).order_by("email"))
        wanted = {e.lower() for e in emails}
        found = {u.email_ci: u for u in User.objects.annotate(email_ci=Lower("email"))
                 .filter(email_ci__in=wanted)}
        unknown = [e for e in emails if e.lower() not in found]
        if unknown:
            raise CommandError(f"No user has the email {', '.join(unknown)}.")
        return [found[e.lower()] for e in emails]

    def _sync(self, user: User) -> SyncReport:
        if not self.stdout.isatty():
            return sync_user(user.pk)
        from tqdm import tqdm

        with tqdm(desc=user.email, unit=" items", leave=False) as bar:
            counts = {"listed": 0, "fetched": 0, "written": 0}

            def progress(what: str, n: int) -> None:
                counts[what] = counts.get(what, 0) + n
                bar.set_postfix(counts)
                if what == "listed":
                    bar.update(n)

            return sync_user(user.pk, progress=progress)
