"""The error report (SPEC §9): Lightning Sync Errors as an admin list, filled by real syncs
through exchangesim: filters, search, "Grand Totals", the CSV export of the filtered rows,
links to the CRM record, and Retry."""

from __future__ import annotations

import csv
import html
import io
import re

import pytest
from django.urls import reverse

from lightningsync.models import Contact, LightningSyncError, UserSyncState
from tests.engine.ews_fixtures import EwsWorld, ews_fixture, point_setup_at  # noqa: F401

LIST = reverse("admin:lightningsync_lightningsyncerror_changelist")
EXPORT = reverse("admin:lightningsync_lightningsyncerror_export")


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(re.sub(r"\s+", " ", response.content.decode()))


def exported(response) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def unresolved_accounts(ews: EwsWorld, *companies: str) -> None:
    """The rep files contacts at companies the CRM has no account for; a cycle imports them."""
    ews.sync()
    for n, company in enumerate(companies):
        ews.outlook.create({"Surname": f"Worker{n}", "CompanyName": company})
    ews.sync()


@pytest.mark.django_db
def test_an_empty_report_reads_grand_totals_0_records(admin_client):
    text = text_of(admin_client.get(LIST))
    assert "Grand Totals (0 records)" in text
    assert "No sync errors: Lightning Sync has met none." in text


def test_the_report_lists_filters_searches_and_links_the_crm_record(admin_client, ews) -> None:  # type: ignore[no-untyped-def]
    unresolved_accounts(ews, "Nowhere Ltd", "Elsewhere Inc")
    text = text_of(admin_client.get(LIST))
    assert "Grand Totals (2 records)" in text
    assert "No account is named “Nowhere Ltd”" in text
    contact = Contact.objects.get(last_name="Worker0")
    assert f'href="{reverse("admin:lightningsync_contact_change", args=[contact.pk])}"' in text
    text = text_of(admin_client.get(LIST, {"q": "Elsewhere"}))
    assert "Grand Totals (1 record)" in text and "Nowhere Ltd" not in text
    text = text_of(admin_client.get(LIST, {"kind__exact": "unresolved_account",
                                          "direction__exact": "exchange_to_crm",
                                          "object__exact": "contact",
                                          "resolved__exact": "0",
                                          "user__id__exact": ews.rep.pk}))
    assert "Grand Totals (2 records)" in text
    text = text_of(admin_client.get(LIST, {"kind__exact": "authentication"}))
    assert "Grand Totals (0 records)" in text


def test_the_export_holds_the_filtered_rows(admin_client, ews) -> None:  # type: ignore[no-untyped-def]
    unresolved_accounts(ews, "Nowhere Ltd", "Elsewhere Inc")
    text = text_of(admin_client.get(LIST, {"q": "Elsewhere"}))
    assert f'href="{EXPORT}?q=Elsewhere"' in text
    response = admin_client.get(EXPORT, {"q": "Elsewhere"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.streaming
    (row,) = exported(response)
    assert row["User"] == "rep@example.com"
    assert (row["Object"], row["Direction"], row["Kind"]) == (
        "Contact", "Exchange to CRM", "Unresolved account")
    assert "Elsewhere Inc" in row["Message"] and row["Resolved"] == "No"
    assert row["CRM record"] == str(Contact.objects.get(last_name="Worker1").pk)
    everything = exported(admin_client.get(EXPORT))
    assert len(everything) == 2


@pytest.mark.django_db
def test_a_rows_suggestion_reads_under_its_message_escaped(admin_client, admin_user) -> None:  # type: ignore[no-untyped-def]
    """One column of sentences (the list stays narrow); an item's text is never markup."""
    from django.utils import timezone

    now = timezone.now()
    LightningSyncError.objects.create(
        user=admin_user, direction="exchange_to_crm", kind="unresolved_account",
        message="No account is named <b>Evil</b>.", suggestion="Create <script>x</script>.",
        fingerprint="one",
        first_occurred_at=now, last_occurred_at=now)
    LightningSyncError.objects.create(
        user=admin_user, direction="exchange_to_crm", kind="unresolved_account",
        message="A row without a suggestion.", fingerprint="two", first_occurred_at=now,
        last_occurred_at=now)
    body = admin_client.get(LIST).content.decode()
    cells = re.findall(r'<td class="field-message_and_suggestion">(.*?)</td>', body, re.S)
    assert sorted(cells) == sorted([
        "No account is named &lt;b&gt;Evil&lt;/b&gt;.<span class=\"ls-error__suggestion\">"
        "<b>Suggestion:</b> Create &lt;script&gt;x&lt;/script&gt;.</span>",
        "A row without a suggestion.",
    ])
    assert 'class="field-suggestion"' not in body


def test_an_exported_cell_is_never_a_spreadsheet_formula() -> None:
    from setupui.errors_admin import _safe_cell

    assert [_safe_cell(v) for v in ("=1+1", "+1", "-1", "@x", "Acme", 3)] == [
        "'=1+1", "'+1", "'-1", "'@x", "Acme", 3]


def test_retry_resumes_a_user_paused_by_refused_credentials(
        admin_client, ews, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    point_setup_at(ews.running, password="wrong-password")
    assert ews.sync().outcome == "paused"
    (error,) = LightningSyncError.objects.filter(kind="authentication")
    # The password is corrected in Exchange (not in Setup): Retry resumes the user.
    ews.sim.add_service_account(ews.running.username, "wrong-password")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(LIST, {"action": "retry", "_selected_action": [error.pk]},
                                     follow=True)
    assert "1 paused user resumed" in text_of(response)
    state = UserSyncState.objects.get(user=ews.rep)
    assert state.paused_reason == "" and state.last_success_at is not None
    error.refresh_from_db()
    assert error.resolved
