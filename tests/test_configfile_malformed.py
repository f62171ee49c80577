"""Malformed configuration files are refused, never crash, and change nothing (SPEC §14).

Every case goes through the command and the upload page, on whichever database the suite
runs (SQLite and PostgreSQL must refuse identically): the exact error lines, the org's whole
state unchanged, and no exception (an HTTP 500) on the way.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from lightningsync import configfile, setupservice
from lightningsync.models import ContactFilter, SyncConfiguration
from lightningsync.setupservice import apply_setup
from tests.configdocs import changed, document, full_document, org_state, value_at
from tests.factories import ProfileFactory, SyncConfigurationFactory, UserFactory

pytestmark = pytest.mark.django_db

UPLOAD = reverse("admin:lightningsync_config_upload")
C0 = ("configurations", 0)
KNOWN_SETTINGS = ", ".join(s.path for s in setupservice.SETTINGS)


@pytest.fixture
def org(db):
    """An org with something to lose: Setup with a password, a configuration with a filter."""
    alice = UserFactory(email="alice@example.com")
    ProfileFactory(name="Sales")
    support = ProfileFactory(name="Support")
    keep = SyncConfigurationFactory(name="Keep me", users=[alice], profiles=[support])
    ContactFilter.objects.create(
        configuration=keep, position=0, field="title", operator="contains", value="VP"
    )
    apply_setup(
        {"service_account": {"username": "svc@example.com"}},
        user=None,
        via="test",
        secrets={"service_account_password": "s3cret-Passw0rd"},
    )


def where(path: tuple[str | int, ...]) -> str:
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else key)
    return text


def text(doc: Any) -> str:
    return json.dumps(doc)


# --- the table: (what, the file's text, the exact error lines) -------------------------------

Case = tuple[str, str, list[str]]

# Every string the format holds, with the value `full_document` gives it.
STRING_PATHS: list[tuple[str | int, ...]] = [
    ("setup", "connection_method"),
    ("setup", "service_account", "username"),
    ("setup", "service_account", "ews_url"),
    ("setup", "service_account", "auth"),
    ("setup", "service_account", "additional_domains", 0),
    ("setup", "oauth2", "tenant_id"),
    ("setup", "oauth2", "client_id"),
    ("setup", "oauth2", "graph_url"),
    ("setup", "oauth2", "authority_url"),
    ("setup", "event_selection", "category"),
    (*C0, "name"),
    (*C0, "description"),
    (*C0, "users", 0),
    (*C0, "profiles", 0),
    (*C0, "contacts", "direction"),
    (*C0, "contacts", "ownership"),
    (*C0, "contacts", "filters", 0, "field"),
    (*C0, "contacts", "filters", 0, "operator"),
    (*C0, "contacts", "filters", 0, "value"),
    (*C0, "contacts", "conflict_policy"),
    (*C0, "contacts", "mappings", "title"),
    (*C0, "events", "direction"),
    (*C0, "events", "scope"),
    (*C0, "events", "date_filter"),
]


def nul_cases() -> list[Case]:
    cases = []
    for path in STRING_PATHS:
        value = value_at(full_document(), path)
        cases.append(
            (
                f"NUL in {where(path)}",
                text(changed(full_document(), path, value[:1] + "\x00" + value[1:])),
                [f"{where(path)}: Contains a NUL character (U+0000) at character 2; remove it."],
            )
        )
    mappings = full_document()
    contact_mappings = value_at(mappings, (*C0, "contacts", "mappings"))
    contact_mappings["ti\x00tle"] = contact_mappings.pop("title")
    cases.append(
        (
            "NUL in a mapping's key",
            text(mappings),
            [
                f'{where((*C0, "contacts", "mappings"))}["ti\\u0000tle"]: The key contains a NUL '
                "character (U+0000) at character 3; remove it."
            ],
        )
    )
    cases.append(
        (
            "NUL in an unknown top-level key",
            text({**full_document(), "x\x00": 1}),
            ['["x\\u0000"]: The key contains a NUL character (U+0000) at character 2; remove it.'],
        )
    )
    return cases


# (path, the column's length) for every string stored or looked up.
LIMITS: list[tuple[tuple[str | int, ...], int]] = [
    (("setup", "connection_method"), 20),
    (("setup", "service_account", "username"), 254),
    (("setup", "service_account", "ews_url"), 500),
    (("setup", "service_account", "auth"), 10),
    (("setup", "oauth2", "tenant_id"), 100),
    (("setup", "oauth2", "client_id"), 100),
    (("setup", "oauth2", "graph_url"), 300),
    (("setup", "oauth2", "authority_url"), 300),
    (("setup", "event_selection", "category"), 255),
    ((*C0, "name"), 80),
    ((*C0, "description"), 2000),
    ((*C0, "users", 0), 254),
    ((*C0, "profiles", 0), 80),
    ((*C0, "contacts", "direction"), 20),
    ((*C0, "contacts", "ownership"), 20),
    ((*C0, "contacts", "filters", 0, "field"), 50),
    ((*C0, "contacts", "filters", 0, "operator"), 20),
    ((*C0, "contacts", "filters", 0, "value"), 255),
    ((*C0, "contacts", "conflict_policy"), 20),
    ((*C0, "events", "direction"), 20),
    ((*C0, "events", "scope"), 20),
    ((*C0, "events", "date_filter"), 20),
]


def long_cases() -> list[Case]:
    cases = []
    for path, limit in LIMITS:
        value = value_at(full_document(), path)
        longer = value + "x" * (limit + 1 - len(value))
        cases.append(
            (
                f"{where(path)} over {limit} characters",
                text(changed(full_document(), path, longer)),
                [
                    f"{where(path)}: Longer than {limit} characters (this one has {limit + 1}); "
                    "shorten it."
                ],
            )
        )
    # Stored as "a, a, …": 255 characters typed become 382 stored.
    listed = ",".join(["a"] * 128)
    cases.append(
        (
            "an “in” list longer than its column once stored",
            text(
                changed(
                    full_document(),
                    (*C0, "contacts", "filters", 0),
                    {"field": "mailing_state", "operator": "in", "value": listed},
                )
            ),
            [
                f"{where((*C0, 'contacts', 'filters', 0, 'value'))}: Longer than 255 characters "
                "(this one has 382); shorten it."
            ],
        )
    )
    return cases


WRONG_TYPES: list[tuple[tuple[str | int, ...], Any, str]] = [
    (("configurations",), {}, "Use a list of configurations."),
    (C0, 5, "Use an object ({...}) here."),
    (("setup",), [], "Use an object of settings (or leave “setup” out to keep Setup)."),
    (("setup", "service_account"), 5, "Use an object of settings here."),
    (("setup", "enabled"), "yes", "Use true or false."),
    (("setup", "connection_method"), 5, "Use a text value: one of service_account, oauth2."),
    (("setup", "service_account", "username"), 5, "Use a text value."),
    (
        ("setup", "service_account", "additional_domains"),
        5,
        "List the domains as text, separated by commas.",
    ),
    ((*C0, "name"), 5, "Use a text value."),
    ((*C0, "description"), [], "Use a text value."),
    ((*C0, "active"), "yes", "Use true or false."),
    ((*C0, "users"), "alice@example.com", "Use a list of text values."),
    ((*C0, "users", 0), 5, "Use a text value."),
    ((*C0, "profiles"), {}, "Use a list of text values."),
    ((*C0, "contacts"), [], "Use an object ({...}) here."),
    (
        (*C0, "contacts", "direction"),
        5,
        "Use a text value: one of none, exchange_to_crm, crm_to_exchange, both.",
    ),
    ((*C0, "contacts", "filters"), {}, "Use a list of {field, operator, value} objects."),
    ((*C0, "contacts", "filters", 0), 5, "Use an object ({...}) here."),
    ((*C0, "contacts", "filters", 0, "value"), 5, "Use a text value."),
    (
        (*C0, "contacts", "mappings"),
        [],
        "Use an object mapping CRM field names to Exchange field names.",
    ),
    (
        (*C0, "contacts", "mappings", "title"),
        5,
        "Use a text value: the name of an Exchange field.",
    ),
    ((*C0, "events"), 5, "Use an object ({...}) here."),
    ((*C0, "events", "sync_private"), "no", "Use true or false."),
    ((*C0, "events", "date_filter"), 30, "Use a text value."),
]

UNKNOWN_KEYS: list[tuple[tuple[str | int, ...], str]] = [
    ((), "Known keys here: version, setup, configurations."),
    (C0, "Known keys here: name, description, active, users, profiles, contacts, events."),
    (
        (*C0, "contacts"),
        "Known keys here: direction, ownership, filters, conflict_policy, mappings.",
    ),
    (
        (*C0, "events"),
        "Known keys here: direction, scope, sync_private, auto_remove_deleted, auto_relate, "
        "date_filter, mappings.",
    ),
    ((*C0, "contacts", "filters", 0), "Known keys here: field, operator, value."),
]


def version_error(shown: str) -> str:
    return (
        f"version: this file's format version is {shown}; this Lightning Sync reads version 1 "
        "(export again from the sandbox)."
    )


def structure_cases() -> list[Case]:
    cases: list[Case] = [
        (
            f"{where(path)} is {type(value).__name__}",
            text(changed(full_document(), path, value)),
            [f"{where(path)}: {message}"],
        )
        for path, value, message in WRONG_TYPES
    ]
    for path, known in UNKNOWN_KEYS:
        doc = full_document()
        value_at(doc, path)["colour"] = "red"
        cases.append(
            (
                f"unknown key in {where(path) or 'the document'}",
                text(doc),
                [f"{where((*path, 'colour'))}: Unknown key. {known}"],
            )
        )
    for path in [("setup",), ("setup", "service_account")]:
        doc = full_document()
        value_at(doc, path)["colour"] = "red"
        cases.append(
            (
                f"unknown setting in {where(path)}",
                text(doc),
                [f"{where((*path, 'colour'))}: Unknown setting. Known settings: {KNOWN_SETTINGS}."],
            )
        )
    for version, shown in [(2, "2"), ("1", '"1"'), (True, "true"), (1.0, "1.0"), (None, "null")]:
        cases.append(
            (
                f"version {shown}",
                text(changed(full_document(), ("version",), version)),
                [version_error(shown)],
            )
        )
    missing = full_document()
    del missing["version"]
    cases.append(("no version", text(missing), [version_error("missing")]))
    cases.append(
        (
            "a password",
            text(changed(full_document(), ("setup", "service_account", "password"), "pw")),
            [
                "setup.service_account.password: secrets are never imported from a file; set "
                "this one with manage.py lightningsync_setup --password-stdin (or "
                "--password-file F)."
            ],
        )
    )
    return cases


def parse_cases() -> list[Case]:
    deep = "[" * 100_000 + "]" * 100_000
    deep_prefix = '{"version": 1, "configurations": [{"name": "x", "description": '
    too_many = text(document(*({"name": f"C{i}"} for i in range(1001))))
    return [
        (
            "bad JSON",
            '{"version": 1,',
            [
                "The file is not valid JSON: Expecting property name enclosed in double quotes "
                "at line 1, column 15."
            ],
        ),
        (
            # Linear time: a regular expression that had to find each string's closing quote
            # took minutes over text like this.
            "an unterminated string of escaped quotes",
            '{"version": 1, "configurations": [{"name": "' + '\\"' * 50_000,
            ["The file is not valid JSON: Unterminated string starting at line 1, column 44."],
        ),
        (
            "not an object",
            "[1, 2]",
            ["The file must hold one JSON object with “version”, “setup” and “configurations”."],
        ),
        (
            "nested 100,000 deep",
            deep,
            [
                "The file nests lists and objects more than 16 deep (at line 1, column 17); a "
                "configuration file nests 6 deep at most."
            ],
        ),
        (
            "nested deep inside a configuration",
            deep_prefix + "[" * 20 + '"x"' + "]" * 20 + "}]}",
            [
                # The document, its list and the configuration are 3 levels; 14 more are too many.
                "The file nests lists and objects more than 16 deep (at line 1, column "
                f"{len(deep_prefix) + 14}); a configuration file nests 6 deep at most."
            ],
        ),
        (
            "NaN",
            '{"version": NaN, "configurations": []}',
            ["The file is not valid JSON: NaN is not a JSON value."],
        ),
        (
            "a 40-digit number",
            '{"version": 1' + "0" * 40 + ', "configurations": []}',
            ["The file holds a number with more than 30 digits; no setting takes one."],
        ),
        (
            "a key twice",
            '{"version": 1, "configurations": [], "version": 1}',
            ["The file gives the key “version” twice in one object; keep one."],
        ),
        (
            "over 5 MB",
            text({**full_document(), "padding": "x" * (5 * 1024 * 1024)}),
            ["The file is larger than 5 MB; a configuration file is far smaller."],
        ),
        (
            "1,001 configurations",
            too_many,
            ["configurations: The file holds 1001 configurations; an import takes at most 1000."],
        ),
        (
            "a line break in a name",
            text(changed(full_document(), (*C0, "name"), "West\nreps")),
            [f"{where((*C0, 'name'))}: Contains a line break (U+000A) at character 5; remove it."],
        ),
        (
            "a lone surrogate in a name",
            text(changed(full_document(), (*C0, "name"), "West \ud800")),
            [
                f"{where((*C0, 'name'))}: Contains an unpaired surrogate (U+D800) at character "
                "6; remove it."
            ],
        ),
        (
            "a bell in a filter value",
            text(changed(full_document(), (*C0, "contacts", "filters", 0, "value"), "C\x07A")),
            [
                f"{where((*C0, 'contacts', 'filters', 0, 'value'))}: Contains the control "
                "character U+0007 at character 2; remove it."
            ],
        ),
    ]


CASES: list[Case] = parse_cases() + nul_cases() + long_cases() + structure_cases()


# --- the channels -------------------------------------------------------------------------------


def through_command(tmp_path: Any, content: str) -> list[str]:
    source = tmp_path / "config.json"
    source.write_text(content, encoding="utf-8", errors="surrogatepass")
    try:
        call_command("lightningsync_config", "import", str(source), stdout=io.StringIO())
    except CommandError as exc:
        return str(exc).splitlines()
    return ["(imported)"]


def through_page(client: Any, content: str) -> list[str]:
    upload = SimpleUploadedFile(
        "lightningsync-config.json",
        content.encode("utf-8", errors="surrogatepass"),
        "application/json",
    )
    response = client.post(UPLOAD, {"file": upload})
    assert response.status_code == 200, response.status_code
    assert "plan" not in response.context, "a malformed file reached the review step"
    return list(response.context["errors"]) + list(response.context["form"].errors.get("file", []))


def refusals(run: Callable[[str], list[str]]) -> list[str]:
    """Every case whose outcome is not exactly its error lines, with the org unchanged."""
    before = org_state()
    mismatches = []
    for what, content, expected in CASES:
        try:
            got = run(content)
        except Exception as exc:  # a crash is what this test is here to catch
            got = [f"raised {type(exc).__name__}: {str(exc)[:200]}"]
        if got != expected:
            mismatches.append(f"{what}: {got!r} != {expected!r}")
        if org_state() != before:
            mismatches.append(f"{what}: the org changed")
    return mismatches


def test_the_full_document_is_valid(org):
    plan = configfile.import_text(text(full_document()), user=None, dry_run=True)
    assert plan.created == ["West reps"]


def test_the_command_refuses_every_malformed_file_and_changes_nothing(org, tmp_path):
    assert refusals(lambda content: through_command(tmp_path, content)) == []


def test_the_upload_page_refuses_every_malformed_file_and_changes_nothing(org, admin_client):
    assert refusals(lambda content: through_page(admin_client, content)) == []


def test_a_description_keeps_its_line_breaks(org):
    doc = changed(full_document(), (*C0, "description"), "Reps in the West.\n\tAnd Hawaii.")
    configfile.import_text(text(doc), user=None)
    assert SyncConfiguration.objects.get(name="West reps").description == (
        "Reps in the West.\n\tAnd Hawaii."
    )


# --- any document at all --------------------------------------------------------------------------

_odd_text = st.text(
    st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(["\x00", "\n", "\x1f", "\x85", "\ud800", "\udfff", "\ufeff"]),
    ),
    max_size=12,
) | st.sampled_from(
    [
        "alice@example.com",
        "Sales",
        "both",
        "all",
        "selected",
        "users_records",
        "equals",
        "in",
        "title",
        "JobTitle",
        "mailing_state",
        "LAST_N_DAYS:30",
        "x" * 300,
    ]
)
_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _odd_text
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_odd_text, inner, max_size=3),
    max_leaves=8,
)


def _anything(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """An object whose keys are mostly the format's, with any values."""
    return st.dictionaries(st.sampled_from(keys) | _odd_text, _json, max_size=len(keys))


_filters = st.lists(_anything(["field", "operator", "value"]), max_size=2)
_configurations = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "name": _odd_text,
            "description": _odd_text,
            "active": _json,
            "users": st.lists(_odd_text, max_size=2) | _json,
            "profiles": st.lists(_odd_text, max_size=2) | _json,
            "contacts": st.fixed_dictionaries(
                {},
                optional={
                    "direction": _odd_text,
                    "ownership": _odd_text,
                    "filters": _filters | _json,
                    "conflict_policy": _odd_text,
                    "mappings": st.dictionaries(_odd_text, _odd_text, max_size=2) | _json,
                },
            )
            | _json,
            "events": _anything(["direction", "scope", "sync_private", "date_filter"]) | _json,
        },
    )
    | _json,
    max_size=3,
)
_setup = (
    st.fixed_dictionaries(
        {},
        optional={
            "enabled": _json,
            "connection_method": _odd_text,
            "service_account": _anything(["username", "ews_url", "auth", "additional_domains"]),
            "oauth2": _anything(["tenant_id", "client_id", "graph_url", "authority_url"]),
            "event_selection": _anything(["enabled", "category"]),
        },
    )
    | _json
)
_documents = st.fixed_dictionaries(
    {"version": st.just(1) | _json, "configurations": _configurations | _json},
    optional={"setup": _setup},
)


@st.composite
def _texts(draw: st.DrawFn) -> str:
    """The document as text, sometimes damaged, sometimes wrapped very deep."""
    content = json.dumps(draw(_documents), ensure_ascii=draw(st.booleans()))
    damage = draw(st.sampled_from(["none", "cut", "deep", "digits"]))
    if damage == "cut":
        content = content[: draw(st.integers(0, len(content)))]
    elif damage == "deep":
        depth = draw(st.sampled_from([17, 1_000, 100_000]))
        content = "[" * depth + content + "]" * depth
    elif damage == "digits":
        content = content.replace("1", "1" + "0" * draw(st.sampled_from([5, 40, 5000])), 1)
    return content


@hypothesis_settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(content=_texts())
def test_any_text_is_imported_or_refused_with_reasons_never_a_crash(org, content):
    before = org_state()
    try:
        configfile.import_text(content, user=None, dry_run=True)
    except configfile.ConfigFileError as exc:
        assert exc.errors and all(isinstance(line, str) and line for line in exc.errors)
    assert org_state() == before
