"""The "Sales Reps" group: what Salesforce's standard sales user may do with CRM records
(read, create, edit and delete accounts, contacts, leads and events, and see other users and
their profiles, as record owners), so a rep can edit a contact and see it sync. The Lightning Sync groups of
0002 stay about Setup, as Salesforce's permission sets are. Creates the group, or puts an
existing one back to exactly these permissions."""

from django.db import migrations

GROUPS = {
    "Sales Reps": [
        *(
            f"{action}_{model}"
            for model in ("account", "contact", "lead", "event")
            for action in ("view", "add", "change", "delete")
        ),
        "view_user",
        "view_profile",
    ],
}


def make_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations; the group needs them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(
            Permission.objects.filter(
                content_type__app_label="lightningsync", codename__in=codenames
            )
        )


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("lightningsync", "0010_refused_item_retries_and_reset_waits"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(make_groups, remove_groups)]
