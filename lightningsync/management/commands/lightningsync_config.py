"""Export Setup and all sync configurations to a JSON file, or import one (SPEC §14, §15).

`export FILE|-` writes the document (never a secret); `import FILE|-` applies one with the
Setup pages' rules, all or nothing. Both exit 0 with a one-line summary, or non-zero with
one line per problem.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lightningsync import configfile


class Command(BaseCommand):
    stealth_options = ("stdin",)
    help = (
        "Export Lightning Sync Setup and every sync configuration to a JSON file, or import "
        "one (all or nothing; configurations missing from the file are deleted). "
        "Use - for stdin/stdout."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="export|import")
        export = actions.add_parser("export", help="write the configuration file")
        export.add_argument("file", metavar="FILE|-")
        export.add_argument("--json", action="store_true", help="print the summary as JSON")
        imp = actions.add_parser("import", help="apply a configuration file")
        imp.add_argument("file", metavar="FILE|-")
        imp.add_argument("--json", action="store_true", help="print the summary as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "export":
            self._export(options["file"], as_json=options["json"])
        else:
            self._import(options["file"], as_json=options["json"], stdin=options.get("stdin"))

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

    def _import(self, source: str, *, as_json: bool, stdin: Any) -> None:
        text = self._read(source, stdin or sys.stdin)
        try:
            summary = configfile.import_document(configfile.loads(text), user=None)
        except configfile.ConfigFileError as exc:
            raise CommandError("\n".join(exc.errors)) from None
        if as_json:
            self.stdout.write(json.dumps(summary.as_dict()))
        else:
            self.stdout.write(str(summary))
            for line in summary.moved:
                self.stdout.write(line)

    def _read(self, source: str, stdin: Any) -> str:
        if source == "-":
            return str(stdin.read())
        try:
            return Path(source).read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise CommandError(f"{source}: no such file.") from None
        except UnicodeDecodeError:
            raise CommandError(
                f"{source}: not UTF-8 text; import the JSON file as it was exported."
            ) from None
        except OSError as exc:
            raise CommandError(f"Cannot read {source}: {exc.strerror}.") from None
