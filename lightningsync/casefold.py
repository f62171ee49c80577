"""Case-insensitive comparison in SQL that agrees with Python's `str.casefold()`.

SQLite's LOWER() folds ASCII letters only ("MÜLLER" stays "mÜller"), so on SQLite the
comparison runs through `str.casefold` registered as a function on every connection.
PostgreSQL's LOWER() folds every letter but keeps "ß" (casefold makes it "ss"): values are
looked up by both their lowered and their casefolded forms, so the same spelling in any case
always matches there, and only "ß" against "SS" needs the exact spelling.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.db.models import CharField, Func

SQLITE_FUNCTION = "LIGHTNINGSYNC_CASEFOLD"


class CaseFold(Func):
    """casefold(expression): LOWER() in SQL, `str.casefold` on SQLite."""

    function = "LOWER"
    output_field = CharField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return super().as_sql(compiler, connection, function=SQLITE_FUNCTION, **extra)


def folded_forms(values: Any) -> set[str]:
    """What `CaseFold(column)` may equal for these values, on any database."""
    out: set[str] = set()
    for value in values:
        if value:
            out.add(value.lower())
            out.add(value.casefold())
    return out


def _casefold(value: object) -> object:
    return value.casefold() if isinstance(value, str) else value


def register_sqlite_function(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_function(SQLITE_FUNCTION, 1, _casefold, deterministic=True)


def connect() -> None:
    connection_created.connect(register_sqlite_function, dispatch_uid="lightningsync-casefold")
