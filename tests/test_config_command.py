"""manage.py lightningsync_config export|import FILE|- (SPEC §15)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from lightningsync.models import SyncConfiguration
from tests.configdocs import org_state
from tests.factories import SyncConfigurationFactory, UserFactory

pytestmark = pytest.mark.django_db


def run(*args: str, stdin: str | None = None) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    kwargs = {"stdout": out, "stderr": err}
    if stdin is not None:
        kwargs["stdin"] = io.StringIO(stdin)
    call_command("lightningsync_config", *args, **kwargs)
    return out.getvalue(), err.getvalue()


def test_it_exports_to_a_file_with_a_summary(tmp_path):
    SyncConfigurationFactory(name="West reps")
    target = tmp_path / "config.json"
    out, _ = run("export", str(target))
    assert out == f"Exported Setup and 1 sync configuration to {target}.\n"
    doc = json.loads(target.read_text())
    assert [c["name"] for c in doc["configurations"]] == ["West reps"]


def test_it_exports_to_stdout_keeping_the_summary_out_of_the_document():
    SyncConfigurationFactory(name="West reps")
    out, err = run("export", "-")
    assert json.loads(out)["version"] == 1
    assert err == "Exported Setup and 1 sync configuration to stdout.\n"


def test_it_imports_from_a_file_and_says_what_changed(tmp_path):
    UserFactory(email="alice@example.com")
    SyncConfigurationFactory(name="Old reps")
    source = tmp_path / "config.json"
    source.write_text(
        json.dumps(
            {
                "version": 1,
                "configurations": [{"name": "West reps", "users": ["alice@example.com"]}],
            }
        )
    )
    out, _ = run("import", str(source))
    assert out == (
        "Imported sync configurations: 1 created, 0 updated, 0 unchanged, 0 deleted, 1 kept.\n"
        "Created “West reps”.\n"
        "Kept “Old reps” (not in the file).\n"
    )
    assert sorted(SyncConfiguration.objects.values_list("name", flat=True)) == [
        "Old reps",
        "West reps",
    ]


def test_it_imports_from_stdin_with_json_output():
    out, _ = run("import", "-", "--json", stdin='{"version": 1, "configurations": [{"name": "A"}]}')
    assert json.loads(out) == {
        "dry_run": False,
        "setup_in_file": False,
        "setup_changed": [],
        "created": ["A"],
        "updated": {},
        "unchanged": [],
        "deleted": [],
        "kept": [],
        "moved": [],
    }


def test_it_round_trips_through_the_command(tmp_path):
    UserFactory(email="alice@example.com")
    SyncConfigurationFactory(name="West reps", users=[UserFactory(email="bob@example.com")])
    first, second = tmp_path / "1.json", tmp_path / "2.json"
    run("export", str(first))
    run("import", str(first))
    run("export", str(second))
    assert first.read_bytes() == second.read_bytes()


def test_it_fails_with_every_error_line_and_changes_nothing(tmp_path):
    SyncConfigurationFactory(name="Keep me")
    source = tmp_path / "bad.json"
    source.write_text(
        json.dumps(
            {
                "version": 1,
                "configurations": [
                    {"name": "West reps", "contacts": {"ownership": "selected"}},
                    {"name": "East reps", "users": ["nobody@example.com"]},
                ],
            }
        )
    )
    with pytest.raises(CommandError) as exc:
        run("import", str(source))
    lines = str(exc.value).splitlines()
    assert lines == [
        "configurations[0].contacts.ownership: “Selected contacts” needs "
        "“User's records”: without it no contact would sync. Choose Selected contacts with "
        "User's records, or All contacts.",
        "configurations[1].users: No user has the email address "
        "“nobody@example.com”. Users are named by their email address.",
    ]
    assert list(SyncConfiguration.objects.values_list("name", flat=True)) == ["Keep me"]


def test_it_fails_on_invalid_json_and_missing_files(tmp_path):
    source = tmp_path / "broken.json"
    source.write_text('{"version": 1,')
    with pytest.raises(CommandError, match=r"not valid JSON: .* at line 1, column 15\."):
        run("import", str(source))
    with pytest.raises(CommandError, match="no such file"):
        run("import", str(tmp_path / "missing.json"))


def test_it_exits_non_zero_with_the_lines_on_stderr(tmp_path, capsys):
    """The real entry point: CommandError becomes exit status 1, its lines on stderr."""
    from lightningsync.management.commands.lightningsync_config import Command

    source = tmp_path / "bad.json"
    source.write_text('{"version": 3, "configurations": []}')
    with pytest.raises(SystemExit) as exc:
        Command().run_from_argv(["manage.py", "lightningsync_config", "import", str(source)])
    assert exc.value.code == 1
    assert capsys.readouterr().err == (
        "CommandError: version: this file's format version is 3; this Lightning Sync reads "
        "version 1 (export again from the sandbox).\n"
    )


def test_it_exits_zero_on_success(tmp_path, capsys):
    from lightningsync.management.commands.lightningsync_config import Command

    Command().run_from_argv(["manage.py", "lightningsync_config", "export", str(tmp_path / "x")])
    assert capsys.readouterr().out.startswith("Exported Setup and 0 sync configurations")


@pytest.fixture
def east_and_old(tmp_path):
    """East reps holds Alice; Old reps is not in the file the fixture returns."""
    alice = UserFactory(email="alice@example.com")
    SyncConfigurationFactory(name="East reps", users=[alice])
    SyncConfigurationFactory(name="Old reps")
    source = tmp_path / "config.json"
    source.write_text(
        json.dumps(
            {
                "version": 1,
                "setup": {"event_selection": {"category": "CRM"}},
                "configurations": [
                    {"name": "East reps", "description": "Reps in the East"},
                    {"name": "West reps", "users": ["alice@example.com"]},
                ],
            }
        )
    )
    return source


def test_a_dry_run_prints_the_plan_and_changes_nothing(east_and_old):
    before = org_state()
    out, _ = run("import", str(east_and_old), "--dry-run")
    assert out.splitlines() == [
        "Dry run: nothing was changed.",
        "Importing would change Setup and sync configurations: 1 created, 1 updated, "
        "0 unchanged, 0 deleted, 1 kept.",
        "Change Setup: Event selection category.",
        "Create “West reps”.",
        "Update “East reps”: Description, Assigned users.",
        "Keep “Old reps” (not in the file).",
        "Move alice@example.com from “East reps” to “West reps”.",
    ]
    assert org_state() == before


def test_a_pruning_dry_run_says_what_would_be_deleted(east_and_old):
    before = org_state()
    out, _ = run("import", str(east_and_old), "--dry-run", "--prune", "--json")
    assert json.loads(out) == {
        "dry_run": True,
        "setup_in_file": True,
        "setup_changed": ["Event selection category"],
        "created": ["West reps"],
        "updated": {"East reps": ["Description", "Assigned users"]},
        "unchanged": [],
        "deleted": ["Old reps"],
        "kept": [],
        "moved": [{"user": "alice@example.com", "source": "East reps", "target": "West reps"}],
    }
    assert org_state() == before


def test_prune_deletes_the_configurations_the_file_does_not_name(east_and_old):
    out, _ = run("import", str(east_and_old), "--prune")
    assert out.splitlines() == [
        "Imported Setup and sync configurations: 1 created, 1 updated, 0 unchanged, "
        "1 deleted, 0 kept.",
        "Changed Setup: Event selection category.",
        "Created “West reps”.",
        "Updated “East reps”: Description, Assigned users.",
        "Deleted “Old reps”.",
        "Moved alice@example.com from “East reps” to “West reps”.",
    ]
    assert sorted(SyncConfiguration.objects.values_list("name", flat=True)) == [
        "East reps",
        "West reps",
    ]
