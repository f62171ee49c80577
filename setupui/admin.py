"""Registers the Setup site's model pages (Django's admin autodiscovery imports this)."""

import setupui.configurations_admin  # noqa: F401  (Sync Configurations)
from setupui import audit_admin, crm_admin, errors_admin  # noqa: F401  (register their ModelAdmins)
