"""Sync through Autodiscover (SPEC §2: per domain, kept 24 hours) and the Additional domains
rule (a rep outside the recognised domains is not synced and the error report says why),
end to end through exchangesim with the real exchangelib."""

from __future__ import annotations

import datetime as dt

from lightningsync import domains
from lightningsync.models import AutodiscoverResult, LightningSyncError, LightningSyncSetup
from syncengine.autodiscovery import autodiscover_status
from syncengine.cycle.runner import Outcome
from tests.factories import UserFactory

from .ews_fixtures import crm_contact, ews_fixture  # noqa: F401

SYNC = "contacts/Salesforce_Sync"


def use_autodiscover(ews, settings) -> LightningSyncSetup:  # type: ignore[no-untyped-def]
    settings.LIGHTNINGSYNC_AUTODISCOVER_URL = ews.sim.autodiscover_url
    setup = LightningSyncSetup.load()
    setup.ews_url, setup.autodiscover = "", True
    setup.save()
    return setup


def test_it_syncs_through_autodiscover_and_asks_once_per_domain(ews, settings):
    use_autodiscover(ews, settings)
    crm_contact(ews.rep, last_name="Lovelace", email="ada@example.org")
    other = ews.add_user("bob")
    ews.sim.reset_counters()
    assert ews.sync().outcome == Outcome.SYNCED
    assert ews.sync(other).outcome == Outcome.SYNCED
    assert ews.sync().outcome == Outcome.SYNCED
    assert [i["Surname"] for i in ews.items()] == ["Lovelace"]
    assert ews.sim.request_count("GetUserSettings", None) == 1
    status = autodiscover_status("example.com")
    assert (status.ews_url, status.error, status.expired) == (ews.running.ews_url, "", False)


def test_an_expired_answer_is_asked_again(ews, settings):
    use_autodiscover(ews, settings)
    assert ews.sync().outcome == Outcome.SYNCED
    AutodiscoverResult.objects.update(resolved_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    assert autodiscover_status("example.com").expired
    ews.sim.reset_counters()
    assert ews.sync().outcome == Outcome.SYNCED
    assert ews.sim.request_count("GetUserSettings", None) == 1
    assert not autodiscover_status("example.com").expired


def test_autodiscover_without_an_answer_pauses_with_its_reason(ews, settings):
    use_autodiscover(ews, settings)
    ews.rep.email = "nobody@example.com"
    ews.rep.save()
    report = ews.sync()
    assert report.outcome == Outcome.PAUSED
    assert "Autodiscover found no EWS URL for nobody@example.com" in report.reason
    entry = LightningSyncError.objects.get()
    assert entry.kind == LightningSyncError.Kind.IMPERSONATION
    assert "Invalid user" in entry.message
    assert autodiscover_status("example.com").error


def test_a_rep_outside_the_recognised_domains_is_not_synced_until_setup_adds_it(ews):
    outsider = UserFactory(username="ann", email="ann@awcomputing.net")
    ews.sim.add_mailbox(outsider.email)
    ews.config.users.add(outsider)
    crm_contact(outsider, last_name="Hopper")
    report = ews.sync(outsider)
    assert report.outcome == Outcome.PAUSED
    entry = LightningSyncError.objects.get(user=outsider)
    assert entry.kind == LightningSyncError.Kind.IMPERSONATION
    assert entry.message.startswith("The email domain awcomputing.net of ann@awcomputing.net "
                                    "is not one the Exchange service account serves")
    assert "Additional domains" in entry.suggestion
    assert ews.sim.items(outsider.email, "contacts") == []
    status = domains.recognised_domains_status()
    assert status.domains == ["example.com"]
    assert [(email) for _, email, _ in status.outside] == ["ann@awcomputing.net"]
    assert ews.sync().outcome == Outcome.SYNCED  # the rep of a recognised domain syncs

    setup = LightningSyncSetup.load()
    setup.additional_domains = "awcomputing.net"
    setup.save()
    assert ews.sync(outsider).outcome == Outcome.SYNCED
    assert [i["Surname"] for i in ews.sim.items(outsider.email, SYNC)] == ["Hopper"]
    assert domains.recognised_domains_status().outside == []
