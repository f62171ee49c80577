# The link's origin says whether a contact was pushed; the flag was never read.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("lightningsync", "0008_link_removing_state"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="contactlink",
            name="pushed_by_filter",
        ),
    ]
