"""Download and upload of the configuration file on the Setup page (SPEC §14)."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from lightningsync.configfile import ImportPlan, Move
from lightningsync.models import LightningSyncSetup, SyncConfiguration
from lightningsync.setupservice import apply_setup
from tests.configdocs import org_state
from tests.factories import SyncConfigurationFactory, UserFactory

pytestmark = pytest.mark.django_db

DOWNLOAD = reverse("admin:lightningsync_config_download")
UPLOAD = reverse("admin:lightningsync_config_upload")


def upload(client, content: bytes | str, *, prune: bool = False, **kwargs):
    if isinstance(content, str):
        content = content.encode()
    file = SimpleUploadedFile("lightningsync-config.json", content, "application/json")
    data = {"file": file, **({"prune": "on"} if prune else {})}
    return client.post(UPLOAD, data, **kwargs)


def apply(client, response, **kwargs):
    """Press Apply on a review page."""
    return client.post(UPLOAD, {"apply": "Apply", "token": response.context["token"]}, **kwargs)


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
    review = upload(admin_client, json.dumps(document))
    assert LightningSyncSetup.load().event_category == "CRM"
    response = apply(admin_client, review, follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:lightningsync_setup")
    assert (
        "Imported Setup and sync configurations: 0 created, 0 updated, 0 unchanged, 0 deleted, "
        "0 kept." in response.content.decode()
    )
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


# --- review, then Apply -------------------------------------------------------------------------


@pytest.fixture
def east_and_old():
    """East reps holds Alice; Old reps is not in `FILE`."""
    alice = UserFactory(email="alice@example.com")
    SyncConfigurationFactory(name="East reps", users=[alice])
    SyncConfigurationFactory(name="Old reps")


FILE = json.dumps(
    {
        "version": 1,
        "setup": {"event_selection": {"category": "CRM"}},
        "configurations": [
            {"name": "East reps", "description": "Reps in the East"},
            {"name": "West reps", "users": ["alice@example.com"]},
        ],
    }
)


def test_the_review_shows_the_plan_and_changes_nothing_until_apply(
    admin_client, east_and_old, django_capture_on_commit_callbacks
):
    before = org_state()
    with django_capture_on_commit_callbacks() as callbacks:
        review = upload(admin_client, FILE, prune=True)
    assert review.status_code == 200
    assert review.templates[0].name == "setupui/setup_upload_review.html"
    assert review.context["plan"] == ImportPlan(
        setup_in_file=True,
        setup_changed=["Event selection category"],
        created=["West reps"],
        updated={"East reps": ["Description", "Assigned users"]},
        deleted=["Old reps"],
        moved=[Move("alice@example.com", "East reps", "West reps")],
    )
    page = review.content.decode()
    assert "Nothing has changed yet. Importing would change Setup and sync configurations: " in page
    assert "alice@example.com: from “East reps” to “West reps”" in page
    assert 'name="apply"' in page
    assert callbacks == []
    assert org_state() == before

    response = apply(admin_client, review)
    assert response.status_code == 302
    assert sorted(SyncConfiguration.objects.values_list("name", flat=True)) == [
        "East reps",
        "West reps",
    ]
    assert SyncConfiguration.objects.get(
        configurationuser__user__email="alice@example.com"
    ).name == ("West reps")
    assert LightningSyncSetup.load().event_category == "CRM"
    # The upload is used up: a second Apply (a double click, a reload) does nothing.
    after = org_state()
    again = apply(admin_client, review)
    assert again.context["errors"] == [
        "This upload is no longer waiting to be applied (it was applied, cancelled, or another "
        "upload replaced it). Upload the file again."
    ]
    assert org_state() == after


def test_without_prune_the_review_lists_what_is_kept(admin_client, east_and_old):
    review = upload(admin_client, FILE)
    assert review.context["plan"].kept == ["Old reps"]
    assert review.context["plan"].deleted == []
    apply(admin_client, review)
    assert sorted(SyncConfiguration.objects.values_list("name", flat=True)) == [
        "East reps",
        "Old reps",
        "West reps",
    ]


def test_it_shows_the_new_plan_when_the_org_changed_since_the_review(admin_client, east_and_old):
    review = upload(admin_client, FILE)
    SyncConfigurationFactory(name="West reps")  # another admin, meanwhile
    before = org_state()
    response = apply(admin_client, review)
    assert response.status_code == 200
    assert response.context["changed"] is True
    assert response.context["plan"].created == []
    assert response.context["plan"].updated["West reps"] == ["Assigned users"]
    assert "The configurations changed since you reviewed this file" in response.content.decode()
    assert org_state() == before
    apply(admin_client, response)
    assert SyncConfiguration.objects.get(
        configurationuser__user__email="alice@example.com"
    ).name == ("West reps")


def test_a_newer_upload_replaces_the_one_under_review(admin_client, east_and_old):
    first = upload(admin_client, FILE)
    upload(admin_client, json.dumps({"version": 1, "configurations": [{"name": "Other"}]}))
    before = org_state()
    response = apply(admin_client, first)
    assert response.context["errors"][0].startswith("This upload is no longer waiting")
    assert org_state() == before


def test_cancel_forgets_the_upload(admin_client, east_and_old):
    review = upload(admin_client, FILE)
    before = org_state()
    response = admin_client.post(UPLOAD, {"cancel": "Cancel", "token": review.context["token"]})
    assert response.status_code == 302
    assert "lightningsync_config_upload" not in admin_client.session
    assert (
        apply(admin_client, review)
        .context["errors"][0]
        .startswith("This upload is no longer waiting")
    )
    assert org_state() == before
