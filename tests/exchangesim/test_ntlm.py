"""exchangesim signs clients in with NTLM for real (pyspnego's acceptor), as it advertises:
exchangelib's NTLM (requests_ntlm) goes through the handshake on one connection."""

from __future__ import annotations

import pytest
import requests
from exchangelib import NTLM
from exchangelib.errors import UnauthorizedError

ALICE = "alice@example.com"


def test_exchangelib_signs_in_with_ntlm(exchange_sim):
    exchange_sim.sim.add_mailbox(ALICE)
    account = exchange_sim.account(ALICE, auth_type=NTLM)
    assert account.contacts.all().count() == 0
    assert account.calendar.all().count() == 0  # the same connection stays signed in
    assert exchange_sim.sim.request_count("FindItem", ALICE) == 2


def test_a_down_level_name_signs_in_with_ntlm(exchange_sim):
    exchange_sim.sim.add_mailbox(ALICE)
    exchange_sim.sim.add_service_account("CORP\\svc-sync", "Down-level-1")
    account = exchange_sim.account(ALICE, username="CORP\\svc-sync", password="Down-level-1",
                                   auth_type=NTLM)
    assert account.contacts.all().count() == 0


def test_a_wrong_password_is_refused_over_ntlm(exchange_sim):
    exchange_sim.sim.add_mailbox(ALICE)
    account = exchange_sim.account(ALICE, password="wrong", auth_type=NTLM)
    with pytest.raises(UnauthorizedError):
        account.contacts.all().count()
    assert exchange_sim.sim.request_count("FindItem", ALICE) == 0


def test_garbage_in_the_ntlm_header_is_a_plain_401(exchange_sim):
    r = requests.post(exchange_sim.ews_url, data=b"<x/>", timeout=5,
                      headers={"Authorization": "NTLM !!not-base64!!"})
    assert r.status_code == 401
    assert "NTLM" in r.headers.get("WWW-Authenticate", "")


def test_ntlm_can_be_refused_while_still_advertised(exchange_sim):
    exchange_sim.sim.set_ntlm(False)
    exchange_sim.sim.add_mailbox(ALICE)
    with pytest.raises(PermissionError):  # requests_ntlm: no NTLM challenge offered
        exchange_sim.account(ALICE, auth_type=NTLM).contacts.all().count()
