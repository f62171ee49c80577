# Refused items wait for their next try (SPEC §9); a pending reset says what it waits for
# (SPEC §10); the mass-delete guard files its own kind.

import datetime as dt

from django.db import migrations, models


def schedule_open_refusals(apps, schema_editor):
    """Items refused before this migration: tried again a day after their last refusal."""
    error = apps.get_model("lightningsync", "LightningSyncError")
    error.objects.filter(kind="item_rejected", resolved=False).update(
        next_try_at=models.F("last_occurred_at") + dt.timedelta(days=1)
    )


class Migration(migrations.Migration):

    dependencies = [
        ('lightningsync', '0009_remove_contactlink_pushed_by_filter'),
    ]

    operations = [
        migrations.AddField(
            model_name='lightningsyncerror',
            name='next_try_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='usersyncstate',
            name='reset_waiting_for',
            field=models.TextField(blank=True),
        ),
        migrations.AlterField(
            model_name='lightningsyncerror',
            name='kind',
            field=models.CharField(choices=[('connection', 'Connection'), ('authentication', 'Authentication'), ('impersonation', 'Impersonation/access'), ('throttled', 'Throttled'), ('item_rejected', 'Item rejected'), ('conflict', 'Conflict'), ('unresolved_account', 'Unresolved account'), ('filter', 'Filter'), ('limit', 'Limit'), ('mass_delete', 'Mass delete'), ('other_org', 'Other org'), ('internal', 'Internal')], max_length=20),
        ),
        migrations.RunPython(schedule_open_refusals, migrations.RunPython.noop),
    ]
