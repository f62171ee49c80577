"""The Setup site: Django's admin, presented as Salesforce-style Setup."""

from __future__ import annotations

from django.contrib import admin


class SetupSite(admin.AdminSite):
    site_header = "Lightning Sync Setup"
    site_title = "Lightning Sync"
    index_title = "Setup"
