"""Re-encrypt every stored secret under the newest key (SPEC §13).

Rotation: put a new key first in LIGHTNINGSYNC_ENCRYPTION_KEYS, run this, then drop the old
key. One transaction, so an undecryptable secret leaves everything as it was.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from lightningsync import secrets
from lightningsync.audit import record_action
from lightningsync.setupservice import AUDIT_SECTION


def rotate_all_secrets() -> int:
    """Re-encrypt every secret of every model; returns how many were re-encrypted."""
    count = 0
    with transaction.atomic():
        for model, field in secrets.encrypted_fields():
            rows = list(
                model._default_manager.select_for_update()
                .exclude(**{field: ""})
                .only("pk", field)
                .order_by("pk")
            )
            for row in rows:
                try:
                    setattr(row, field, secrets.rotate(getattr(row, field)))
                except secrets.SecretUnavailable:
                    raise CommandError(
                        f"{model._meta.label} #{row.pk}, {field}: no configured key decrypts it; "
                        "nothing was re-encrypted. Put the key it was encrypted with back into "
                        "LIGHTNINGSYNC_ENCRYPTION_KEYS."
                    ) from None
            model._default_manager.bulk_update(rows, [field], batch_size=500)
            count += len(rows)
        record_action(None, AUDIT_SECTION, f"Re-encrypted {count} secrets under the newest key")
    return count


class Command(BaseCommand):
    help = "Re-encrypt every stored secret under the first key of LIGHTNINGSYNC_ENCRYPTION_KEYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print machine-readable output")

    def handle(self, *args: Any, **options: Any) -> None:
        count = rotate_all_secrets()
        if options["json"]:
            self.stdout.write(json.dumps({"reencrypted": count}))
            return
        noun = "secret" if count == 1 else "secrets"
        self.stdout.write(
            f"Re-encrypted {count} {noun} under the newest key. Older keys can now be removed "
            "from LIGHTNINGSYNC_ENCRYPTION_KEYS."
        )
