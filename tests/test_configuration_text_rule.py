"""One text rule for the configuration page and the configuration file (SPEC §3, §14).

A value a column cannot hold (too long, a NUL, a control character) is refused by the page
and by an import with the same message, before the database sees it: SQLite would store it,
PostgreSQL would fail with a DataError (an HTTP 500 on the page).
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from lightningsync import configfile
from lightningsync.models import ContactFilter, SyncConfiguration
from tests.configdocs import configuration, document
from tests.test_configurations_pages import ADD, errors_of, form_data

pytestmark = pytest.mark.django_db

CASES = [
    # (filter value, description, field the page shows it on, path in the file, message)
    (
        "v" * 256,
        "",
        "filters",
        "contacts.filters[0].value",
        "Longer than 255 characters (this one has 256); shorten it.",
    ),
    (
        "C\x00A",
        "",
        "filters",
        "contacts.filters[0].value",
        "Contains a NUL character (U+0000) at character 2; remove it.",
    ),
    (
        "C\tA",
        "",
        "filters",
        "contacts.filters[0].value",
        "Contains the control character U+0009 at character 2; remove it.",
    ),
    (
        "CA",
        "d" * 2001,
        "description",
        "description",
        "Longer than 2000 characters (this one has 2001); shorten it.",
    ),
]


@pytest.mark.parametrize(("value", "description", "field", "path", "message"), CASES)
def test_the_page_and_the_file_refuse_the_same_text_alike(
    admin_client, value, description, field, path, message
):
    response = admin_client.post(
        ADD,
        form_data(
            description=description,
            **{
                "filters-field": ["mailing_state"],
                "filters-operator": ["equals"],
                "filters-value": [value],
            },
        ),
    )
    assert response.status_code == 200
    shown = f"Filter 1: {message}" if field == "filters" else message
    assert errors_of(response, field) == [shown]

    doc = document(
        configuration(
            "West reps",
            description=description,
            contacts__filters=[{"field": "mailing_state", "operator": "equals", "value": value}],
        )
    )
    with pytest.raises(configfile.ConfigFileError) as exc:
        configfile.import_document(doc, user=None)
    assert exc.value.errors == [f"configurations[0].{path}: {message}"]
    assert not SyncConfiguration.objects.exists()
    assert not ContactFilter.objects.exists()


def test_a_value_that_fits_is_stored_as_typed(admin_client):
    response = admin_client.post(
        ADD,
        form_data(
            description="Reps in the West.\nAnd Hawaii.",
            **{
                "filters-field": ["mailing_state"],
                "filters-operator": ["equals"],
                "filters-value": ["v" * 255],
            },
        ),
    )
    assert response.status_code == 302
    config = SyncConfiguration.objects.get(name="West reps")
    assert config.description == "Reps in the West.\nAnd Hawaii."
    assert ContactFilter.objects.get().value == "v" * 255
    assert reverse("admin:lightningsync_syncconfiguration_changelist") in response["Location"]
