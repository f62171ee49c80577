"""`manage.py lightningsync_reset --user EMAIL`: Reset Sync for a user (SPEC §10, §15).

Marks the user for reset and enqueues the user's cycle as a task, which performs the reset
(or records what it waits for: the status page and `lightningsync_status --user` say it).
Exits 1 with one line when the user is unknown.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from lightningsync import userlookup
from lightningsync.models import UserSyncState
from syncengine.tasks import request_reset


class Command(BaseCommand):
    help = "Reset Sync for a user: forget what was synced and run the initial sync again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", metavar="EMAIL", required=True, help="The user's email.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = userlookup.by_email(options["user"])
        if user is None:
            raise CommandError(f"No user has the email {options['user']}.")
        with transaction.atomic():
            request_reset(user)
        state = UserSyncState.objects.get(user=user)
        if state.reset_state == UserSyncState.ResetState.MARKED:
            waits = f" (waiting for: {state.reset_waiting_for})" if state.reset_waiting_for else ""
            self.stdout.write(f"{user.email}: marked for reset{waits}.")
        elif state.reset_state == UserSyncState.ResetState.IN_PROGRESS:
            self.stdout.write(f"{user.email}: reset in progress.")
        else:
            self.stdout.write(f"{user.email}: reset done.")
