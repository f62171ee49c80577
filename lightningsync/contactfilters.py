"""Contact field filters (SPEC §3): which Contact fields and operators, checked and applied.

Validation (Setup pages, import) and the query the engine runs both come from here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.db.models.lookups import GreaterThan, LessThan

OPERATORS = ("equals", "not_equals", "contains", "starts_with", "in", "less_than", "greater_than")
TEXT_OPERATORS = frozenset(OPERATORS)
DATE_OPERATORS = frozenset({"equals", "not_equals", "in", "less_than", "greater_than"})


@dataclass(frozen=True)
class FilterField:
    name: str
    label: str
    lookup: str  # ORM path
    is_date: bool = False


FILTER_FIELDS: dict[str, FilterField] = {
    f.name: f
    for f in (
        FilterField("first_name", "First Name", "first_name"),
        FilterField("last_name", "Last Name", "last_name"),
        FilterField("email", "Email", "email"),
        FilterField("account_name", "Account Name", "account__name"),
        FilterField("title", "Title", "title"),
        FilterField("department", "Department", "department"),
        FilterField("phone", "Phone", "phone"),
        FilterField("mobile_phone", "Mobile", "mobile_phone"),
        FilterField("home_phone", "Home Phone", "home_phone"),
        FilterField("fax", "Fax", "fax"),
        FilterField("assistant_name", "Assistant", "assistant_name"),
        FilterField("assistant_phone", "Asst. Phone", "assistant_phone"),
        FilterField("birthdate", "Birthdate", "birthdate", is_date=True),
        FilterField("mailing_street", "Mailing Street", "mailing_street"),
        FilterField("mailing_city", "Mailing City", "mailing_city"),
        FilterField("mailing_state", "Mailing State/Province", "mailing_state"),
        FilterField("mailing_postal_code", "Mailing Zip/Postal Code", "mailing_postal_code"),
        FilterField("mailing_country", "Mailing Country", "mailing_country"),
        FilterField("description", "Description", "description"),
        FilterField("created_at", "Created Date", "created_at__date", is_date=True),
        FilterField("updated_at", "Last Modified Date", "updated_at__date", is_date=True),
    )
}


def _split_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _parse_date(field: FilterField, text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValidationError(
            f"{field.label} compares with dates: enter “{text}” as YYYY-MM-DD.", code="filter_value"
        ) from exc


def validate_filter(field_name: str, operator: str, value: str) -> str:
    """Check one filter row; returns the cleaned value."""
    field = FILTER_FIELDS.get(field_name)
    if field is None:
        raise ValidationError(
            f"“{field_name}” is not a Contact field that can be filtered on.", code="filter_field"
        )
    if operator not in OPERATORS:
        raise ValidationError(
            f"“{operator}” is not a filter operator; use one of {', '.join(OPERATORS)}.",
            code="filter_operator",
        )
    allowed = DATE_OPERATORS if field.is_date else TEXT_OPERATORS
    if operator not in allowed:
        raise ValidationError(
            f"{field.label} is a date: “{operator}” does not apply to it.", code="filter_operator"
        )
    value = value.strip()
    if operator == "in":
        items = _split_list(value)
        if not items:
            raise ValidationError(
                f"{field.label} in list: enter one or more values separated by commas.",
                code="filter_value",
            )
        if field.is_date:
            for item in items:
                _parse_date(field, item)
        return ", ".join(items)
    if field.is_date:
        _parse_date(field, value)
    elif operator in ("contains", "starts_with", "less_than", "greater_than") and not value:
        raise ValidationError(f"{field.label}: enter a value to compare with.", code="filter_value")
    return value


def filter_q(rows: Iterable[tuple[str, str, str]]) -> Q:
    """The ANDed condition of (field, operator, value) rows, as an ORM Q on Contact."""
    q = Q()
    for field_name, operator, value in rows:
        field = FILTER_FIELDS[field_name]
        lookup = field.lookup
        if field.is_date:
            typed: object = _parse_date(field, value) if operator != "in" else None
        else:
            typed = value
        if operator == "equals":
            q &= Q(**{f"{lookup}__iexact" if not field.is_date else lookup: typed})
        elif operator == "not_equals":
            q &= ~Q(**{f"{lookup}__iexact" if not field.is_date else lookup: typed})
        elif operator == "contains":
            q &= Q(**{f"{lookup}__icontains": typed})
        elif operator == "starts_with":
            q &= Q(**{f"{lookup}__istartswith": typed})
        elif operator == "in":
            items = _split_list(value)
            if field.is_date:
                q &= Q(**{f"{lookup}__in": [_parse_date(field, i) for i in items]})
            else:
                alternatives = Q()
                for item in items:
                    alternatives |= Q(**{f"{lookup}__iexact": item})
                q &= alternatives
        elif operator in ("less_than", "greater_than"):
            compare = LessThan if operator == "less_than" else GreaterThan
            if field.is_date:
                q &= Q(compare(F(lookup), typed))
            else:
                # Text orders ignoring case, like every other text operator here (and so
                # the same on SQLite and PostgreSQL whatever the column's collation).
                q &= Q(compare(Lower(lookup), value.lower()))
    return q
