"""Download and upload of the configuration file on the Setup page (SPEC §14)."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from lightningsync.models import LightningSyncSetup
from lightningsync.setupservice import apply_setup

pytestmark = pytest.mark.django_db

DOWNLOAD = reverse("admin:lightningsync_config_download")
UPLOAD = reverse("admin:lightningsync_config_upload")


def upload(client, content: bytes | str, **kwargs):
    if isinstance(content, str):
        content = content.encode()
    file = SimpleUploadedFile("lightningsync-config.json", content, "application/json")
    return client.post(UPLOAD, {"file": file}, **kwargs)


def test_it_downloads_the_configuration_without_secrets(admin_client):
    apply_setup(
        {"service_account": {"username": "svc@example.com"}},
        user=None,
        via="test",
        secrets={"service_account_password": "Pl41n-Passw0rd"},
    )
    response = admin_client.get(DOWNLOAD)
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="lightningsync-config.json"'
    body = response.content.decode()
    document = json.loads(body)
    assert document["version"] == 1
    assert document["setup"]["service_account"]["username"] == "svc@example.com"
    assert "Pl41n-Passw0rd" not in body
    assert "password" not in body


def test_it_uploads_a_downloaded_file(admin_client):
    apply_setup({"event_selection": {"category": "CRM"}}, user=None, via="test")
    document = json.loads(admin_client.get(DOWNLOAD).content)
    document["setup"]["event_selection"]["category"] = "From sandbox"
    response = upload(admin_client, json.dumps(document), follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:lightningsync_setup")
    assert "Imported Setup and sync configurations" in response.content.decode()
    assert LightningSyncSetup.load().event_category == "From sandbox"


def test_it_shows_every_problem_and_changes_nothing(admin_client):
    document = {
        "version": 2,
        "setup": {"service_account": {"username": "svc", "additional_domains": ["bad_one"]}},
        "configurations": [],
    }
    response = upload(admin_client, json.dumps(document))
    assert response.status_code == 200
    errors = response.context["errors"]
    assert errors == [
        "version: this file's format version is 2; this Lightning Sync reads version 1 "
        "(export again from the sandbox).",
        "setup.service_account.username: “svc” is not a service account user name. "
        "Use user@domain.tld or domain.tld\\user.",
        "setup.service_account.additional_domains: Not a domain name: “bad_one”. "
        "Enter domains such as example.com, separated by commas.",
    ]
    text = response.content.decode()
    assert "Nothing was changed: the file has 3 problems." in text
    assert LightningSyncSetup.load().service_account_username == ""


def test_it_reports_a_file_that_is_not_json(admin_client):
    response = upload(admin_client, "{not json")
    assert len(response.context["errors"]) == 1
    assert response.context["errors"][0].startswith("The file is not valid JSON:")


def test_it_reports_a_file_that_is_not_utf8(admin_client):
    response = upload(admin_client, b"\xff\xfe\x00")
    assert response.context["errors"] == [
        "The file is not UTF-8 text; upload the JSON file as it was downloaded."
    ]


def test_it_asks_for_a_file(admin_client):
    response = admin_client.post(UPLOAD, {})
    assert response.context["form"].errors["file"] == ["This field is required."]


def test_it_shows_the_upload_form(admin_client):
    response = admin_client.get(UPLOAD)
    assert response.status_code == 200
    assert 'type="file"' in response.content.decode()
