"""Export Setup and all sync configurations to a JSON file, or import one (SPEC §14, §15).

`export FILE|-` writes the document (never a secret); `import FILE|-` applies one with the
Setup pages' rules, all or nothing, keeping configurations the file does not name unless
`--prune`; `--dry-run` shows what it would do and changes nothing. Both exit 0 with a
summary, or non-zero with one line per problem.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, BinaryIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lightningsync import configfile, configjson


class Command(BaseCommand):
    stealth_options = ("stdin",)
    help = (
        "Export Lightning Sync Setup and every sync configuration to a JSON file, or import "
        "one (all or nothing; configurations missing from the file are kept unless --prune). "
        "Use - for stdin/stdout."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="export|import")
        export = actions.add_parser("export", help="write the configuration file")
        export.add_argument("file", metavar="FILE|-")
        export.add_argument("--json", action="store_true", help="print the summary as JSON")
        imp = actions.add_parser("import", help="apply a configuration file")
        imp.add_argument("file", metavar="FILE|-")
        imp.add_argument(
            "--prune",
            action="store_true",
            help="delete the configurations the file does not name",
        )
        imp.add_argument(
            "--dry-run",
            action="store_true",
            help="show what the import would create, update, delete and move; change nothing",
        )
        imp.add_argument("--json", action="store_true", help="print the summary as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "export":
            self._export(options["file"], as_json=options["json"])
        else:
            self._import(options)

    def _export(self, target: str, *, as_json: bool) -> None:
        document = configfile.export_document()
        text = configfile.dumps(document)
        count = len(document["configurations"])
        if target == "-":
            self.stdout.write(text, ending="")
            # stdout holds the document; the summary goes where a pipe will not take it.
            out = self.stderr
        else:
            try:
                Path(target).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"Cannot write {target}: {exc.strerror}.") from None
            out = self.stdout
        if as_json:
            out.write(json.dumps({"file": target, "configurations": count}))
        else:
            plural = "s" if count != 1 else ""
            where = "stdout" if target == "-" else target
            out.write(f"Exported Setup and {count} sync configuration{plural} to {where}.")

    def _import(self, options: dict[str, Any]) -> None:
        source = options["file"]
        text = self._read(source, options.get("stdin") or sys.stdin)
        dry_run = options["dry_run"]
        try:
            plan = configfile.import_text(text, user=None, prune=options["prune"], dry_run=dry_run)
        except configfile.ConfigFileError as exc:
            raise CommandError("\n".join(exc.errors)) from None
        if options["json"]:
            self.stdout.write(json.dumps({"dry_run": dry_run, **plan.as_dict()}))
            return
        if dry_run:
            self.stdout.write("Dry run: nothing was changed.")
        self.stdout.write(plan.headline(applied=not dry_run))
        for line in plan.lines(applied=not dry_run):
            self.stdout.write(line)

    def _read(self, source: str, stdin: Any) -> str:
        """The file's text; no more than the size cap is ever read into memory."""
        if source == "-":
            data = _read_capped(getattr(stdin, "buffer", None) or stdin)
        else:
            try:
                with open(source, "rb") as handle:
                    data = _read_capped(handle)
            except FileNotFoundError:
                raise CommandError(f"{source}: no such file.") from None
            except OSError as exc:
                raise CommandError(f"Cannot read {source}: {exc.strerror}.") from None
        if isinstance(data, str):
            return data
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise CommandError(
                f"{source}: not UTF-8 text; import the JSON file as it was exported."
            ) from None


def _read_capped(stream: BinaryIO | Any) -> bytes | str:
    data = stream.read(configjson.MAX_BYTES + 1)
    if len(data) > configjson.MAX_BYTES:
        raise CommandError(configjson.TOO_LARGE)
    return data
