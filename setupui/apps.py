from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class SetupAdminConfig(AdminConfig):
    """django.contrib.admin with the Setup site as the default site."""

    default_site = "setupui.sites.SetupSite"


class SetupUIConfig(AppConfig):
    name = "setupui"
    verbose_name = "Setup"
