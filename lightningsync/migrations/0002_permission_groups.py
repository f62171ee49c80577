"""Groups mirroring Salesforce's permission sets for Lightning Sync (SPEC §11)."""

from django.db import migrations

GROUPS = {
    "Lightning Sync Administrators": [
        "customize_application",
        "view_setup",
        "manage_exchange_configurations",
        "manage_users",
        "run_reports",
        "view_setupaudittrail",
    ],
    "Setup Viewers": ["view_setup", "view_setupaudittrail"],
    "Exchange Configuration Managers": [
        "view_setup",
        "manage_exchange_configurations",
        "manage_users",
    ],
    "Report Users": ["run_reports"],
}


def make_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations; groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = Permission.objects.filter(
            content_type__app_label="lightningsync", codename__in=codenames
        )
        group.permissions.add(*perms)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("lightningsync", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(make_groups, remove_groups)]
