"""Bulk writes of link rows that every planner shares (contacts and events).

Links of both objects have a `user`, an `exchange_id`, a `change_key` and a `needs_stamp`
flag; stamping an item moves its change key, written back here for a whole chunk at once.
"""

from __future__ import annotations

from django.db import connection, models
from django.db.models import Field


def set_change_keys(model: type[models.Model], user_id: int, keys: dict[str, str]) -> None:
    """New change keys of the user's links, by item id, now stamped, in one executemany.

    (A bulk_update builds a CASE expression per row in Python: measured here, 0.15 s per
    page of 512 on SQLite, more than the stamping requests themselves.)
    """
    if not keys:
        return
    meta = model._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)

    def col(name: str) -> str:
        field = meta.get_field(name)
        assert isinstance(field, Field) and field.column
        return quote(field.column)

    sql = (f"UPDATE {table} SET {col('change_key')} = %s, {col('needs_stamp')} = %s "
           f"WHERE {col('user')} = %s AND {col('exchange_id')} = %s")
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(key, False, user_id, item_id) for item_id, key in keys.items()])
