"""manage.py lightningsync_setup / lightningsync_new_org_id (rotation: test_secrets.py)."""

from __future__ import annotations

import io
import json

import pytest
import trustme
from django.core.management import CommandError, call_command

from lightningsync.models import LightningSyncSetup, SetupAuditTrail

pytestmark = pytest.mark.django_db


def run(*args: str, stdin: str = "") -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stdin=io.StringIO(stdin))
    return out.getvalue()


def fails(*args: str, stdin: str = "") -> str:
    with pytest.raises(CommandError) as info:
        run(*args, stdin=stdin)
    message = str(info.value)
    assert "\n" not in message
    return message


class TtyInput(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_it_prints_the_current_settings_with_secrets_as_set_or_not():
    run("lightningsync_setup", "--password-stdin", stdin="Pa55-word\n")
    out = run("lightningsync_setup")
    assert "Service account password:" in out
    lines = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    assert lines["Service account password"].strip() == "set"
    assert lines["Client secret"].strip() == "not set"
    assert lines["Enable Lightning Sync"].strip() == "off"
    assert "Pa55-word" not in out


def test_it_prints_json():
    run("lightningsync_setup", "--username", "svc@example.com")
    document = json.loads(run("lightningsync_setup", "--json"))
    assert document["setup"]["service_account"]["username"] == "svc@example.com"
    assert document["secrets"] == {
        "service_account_password": "not set",
        "oauth_client_secret": "not set",
        "oauth_certificate": "not set",
    }
    assert document["org_id"] == str(LightningSyncSetup.load().org_id)


def test_it_sets_up_a_service_account_in_one_go(tmp_path):
    password_file = tmp_path / "password"
    password_file.write_text("Fr0m-a-file\n")
    ca = tmp_path / "ca.pem"
    ca.write_bytes(trustme.CA().cert_pem.bytes())
    out = run(
        "lightningsync_setup",
        "--enable",
        "--method",
        "service_account",
        "--username",
        "example.com\\svc",
        "--password-file",
        str(password_file),
        "--ews-url",
        "https://mail.example.com/EWS/Exchange.asmx",
        "--auth",
        "ntlm",
        "--additional-domains",
        "Example.net,example.org",
        "--event-selection",
        "on",
        "--event-category",
        "CRM",
        "--ca-bundle",
        str(ca),
    )
    assert out.startswith("Lightning Sync Setup saved.")
    setup = LightningSyncSetup.load()
    assert setup.enabled
    assert setup.service_account_username == "example.com\\svc"
    assert setup.service_account_password() == "Fr0m-a-file"
    assert setup.auth_type == "ntlm"
    assert setup.additional_domain_list == ["example.net", "example.org"]
    assert (setup.event_selection_enabled, setup.event_category) == (True, "CRM")
    assert "BEGIN CERTIFICATE" in setup.ca_bundle
    actors = set(SetupAuditTrail.objects.values_list("actor", flat=True))
    assert actors == {"command line"}


def test_it_changes_nothing_when_given_the_password_it_already_has():
    """The demo sets the same password at every start: that is no change, so no audit entry
    and no new ciphertext; another password is a change again."""
    demo_start = (
        "lightningsync_setup",
        "--enable",
        "--method",
        "service_account",
        "--username",
        "svc-sync@demo.example",
        "--password-stdin",
        "--ews-url",
        "https://mail.example.com/EWS/Exchange.asmx",
        "--auth",
        "basic",
    )
    run(*demo_start, stdin="demo-service-password")
    stored = LightningSyncSetup.load().service_account_password_encrypted
    trail = list(SetupAuditTrail.objects.values_list("pk", "field", "new_value"))
    assert ("Service account password", "changed") in [(f, v) for _, f, v in trail]

    run(*demo_start, stdin="demo-service-password\n")
    setup = LightningSyncSetup.load()
    assert setup.service_account_password_encrypted == stored
    assert list(SetupAuditTrail.objects.values_list("pk", "field", "new_value")) == trail

    run(*demo_start, stdin="another-password")
    setup = LightningSyncSetup.load()
    assert setup.service_account_password() == "another-password"
    assert setup.service_account_password_encrypted != stored
    assert list(
        SetupAuditTrail.objects.exclude(pk__in=[pk for pk, _, _ in trail]).values_list(
            "field", "old_value", "new_value"
        )
    ) == [("Service account password", "", "changed")]


def test_it_changes_one_setting_and_keeps_the_rest():
    run("lightningsync_setup", "--username", "svc@example.com", "--auth", "ntlm")
    run("lightningsync_setup", "--event-category", "Sync me")
    setup = LightningSyncSetup.load()
    assert (setup.service_account_username, setup.auth_type, setup.event_category) == (
        "svc@example.com",
        "ntlm",
        "Sync me",
    )


def test_it_switches_between_ews_url_and_autodiscover():
    run(
        "lightningsync_setup", "--username", "svc@example.com", "--ews-url", "https://m.example/EWS"
    )
    run("lightningsync_setup", "--autodiscover")
    setup = LightningSyncSetup.load()
    assert (setup.ews_url, setup.autodiscover) == ("", True)
    run("lightningsync_setup", "--ews-url", "https://m.example/EWS")
    setup = LightningSyncSetup.load()
    assert (setup.ews_url, setup.autodiscover) == ("https://m.example/EWS", False)


def test_it_reads_the_client_secret_from_stdin_and_sets_oauth_ids():
    run(
        "lightningsync_setup",
        "--tenant-id",
        "contoso.onmicrosoft.com",
        "--client-id",
        "11111111-2222-3333-4444-555555555555",
        "--client-secret-stdin",
        "--graph-url",
        "https://graph.example",
        "--authority-url",
        "https://login.example",
        stdin="app-secret\n",
    )
    setup = LightningSyncSetup.load()
    assert setup.oauth_client_secret() == "app-secret"
    assert (setup.graph_url, setup.authority_url) == (
        "https://graph.example",
        "https://login.example",
    )


def test_it_fails_with_one_line_naming_the_flag():
    assert fails("lightningsync_setup", "--username", "svc") == (
        "--username: “svc” is not a service account user name. "
        "Use user@domain.tld or domain.tld\\user."
    )


def test_it_joins_several_problems_into_one_line():
    message = fails("lightningsync_setup", "--enable")
    assert message == (
        "--username: Enter the service account user name to enable sync.; "
        "--password-stdin/--password-file: Enter the service account password to enable sync.; "
        "--ews-url: Enter the EWS URL or choose Autodiscover to enable sync."
    )


def test_it_refuses_to_enable_oauth_when_no_one_is_there_to_check():
    message = fails(
        "lightningsync_setup",
        "--enable",
        "--method",
        "oauth2",
        "--tenant-id",
        "contoso.onmicrosoft.com",
        "--client-id",
        "11111111-2222-3333-4444-555555555555",
        "--client-secret-stdin",
        stdin="app-secret",
    )
    assert message == (
        "--enable: OAuth 2.0 was not enabled: No user with an email address is in a sync "
        "configuration yet: add one (Sync Configurations), or name a mailbox to check "
        "(--check-mailbox). The other settings given were saved."
    )
    setup = LightningSyncSetup.load()
    assert not setup.enabled and setup.has_oauth_credential
    assert setup.connection_method == "service_account"


def test_it_refuses_an_empty_secret():
    assert fails("lightningsync_setup", "--password-stdin", stdin="\n") == (
        "--password-stdin/--password-file: The service account password is empty; "
        "enter it, or clear it on purpose."
    )


def test_it_refuses_to_read_a_secret_from_a_terminal():
    out = io.StringIO()
    with pytest.raises(CommandError, match="pipe the secret in"):
        call_command("lightningsync_setup", "--password-stdin", stdout=out, stdin=TtyInput())


def test_it_refuses_two_secrets_on_stdin():
    assert "cannot share stdin" in fails(
        "lightningsync_setup", "--password-stdin", "--client-secret-stdin", stdin="x"
    )


def test_it_reports_an_unreadable_file(tmp_path):
    missing = tmp_path / "nope"
    assert fails("lightningsync_setup", "--password-file", str(missing)) == (
        f"--password-file: cannot read {missing}: No such file or directory."
    )


def test_it_takes_no_secret_on_the_command_line():
    with pytest.raises(CommandError):
        call_command("lightningsync_setup", "--password", "visible-in-ps")


def test_it_makes_a_new_org_id_with_yes():
    old = LightningSyncSetup.load().org_id
    out = run("lightningsync_new_org_id", "--yes")
    new = LightningSyncSetup.load().org_id
    assert new != old
    assert out.splitlines() == [f"Old Org ID: {old}", f"New Org ID: {new}"]
    assert SetupAuditTrail.objects.filter(
        field="Org ID", old_value=str(old), new_value=str(new), actor="command line"
    ).exists()


def test_it_refuses_a_new_org_id_without_yes_or_terminal():
    old = LightningSyncSetup.load().org_id
    assert fails("lightningsync_new_org_id") == (
        "Refusing to change the Org ID without --yes (no terminal to ask)."
    )
    assert LightningSyncSetup.load().org_id == old


def test_it_asks_on_a_terminal():
    old = LightningSyncSetup.load().org_id
    out = io.StringIO()
    with pytest.raises(CommandError, match="Cancelled"):
        call_command("lightningsync_new_org_id", stdout=out, stdin=TtyInput("no\n"))
    assert LightningSyncSetup.load().org_id == old
    call_command("lightningsync_new_org_id", stdout=out, stdin=TtyInput("yes\n"))
    assert LightningSyncSetup.load().org_id != old


def test_it_prints_the_new_org_id_as_json():
    document = json.loads(run("lightningsync_new_org_id", "--yes", "--json"))
    assert document["new_org_id"] == str(LightningSyncSetup.load().org_id)
