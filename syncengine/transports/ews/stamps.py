"""Our two stamps on Exchange items (SPEC §8) as EWS extended properties: the org ID and the
CRM record id, in a private property set.

Registered once per process, at import (exchangelib keeps registrations on the item
classes), with a lower-case GUID as Exchange returns it. Read straight from the XML of a
listing or GetItem response, and written either through exchangelib's fields or as XML.
"""

from __future__ import annotations

from typing import Any

from exchangelib import CalendarItem, Contact, ExtendedProperty
from exchangelib.fields import FieldPath
from exchangelib.util import TNS, create_element

PROPERTY_SET_ID = "7d3f5e0a-94a8-4d0c-b1f1-5b2f8c1e6a42"


class OrgIdProperty(ExtendedProperty):
    property_set_id = PROPERTY_SET_ID
    property_name = "LightningSyncOrgId"
    property_type = "String"


class CrmIdProperty(ExtendedProperty):
    property_set_id = PROPERTY_SET_ID
    property_name = "LightningSyncCrmId"
    property_type = "String"


# The exchangelib field names the two properties are registered under.
ORG_FIELD = "lightningsync_org_id"
CRM_FIELD = "lightningsync_crm_id"


def _register_properties() -> None:
    for cls in (Contact, CalendarItem):
        for attr, prop in ((ORG_FIELD, OrgIdProperty), (CRM_FIELD, CrmIdProperty)):
            if attr not in {f.name for f in cls.FIELDS}:
                cls.register(attr, prop)


_register_properties()

_T = f"{{{TNS}}}"
_EXTENDED = _T + "ExtendedProperty"
_EXTENDED_URI = _T + "ExtendedFieldURI"
_EXTENDED_VALUE = _T + "Value"


def xml_stamps(item: Any) -> tuple[str | None, str | None]:
    """(org stamp, CRM stamp) of an item element; "" when present but empty (as exchangelib)."""
    org = crm = None
    for prop in item.iterfind(_EXTENDED):
        uri = prop.find(_EXTENDED_URI)
        if uri is None or (uri.get("PropertySetId") or "").lower() != PROPERTY_SET_ID:
            continue
        name = uri.get("PropertyName")
        if name == OrgIdProperty.property_name:
            org = prop.findtext(_EXTENDED_VALUE) or ""
        elif name == CrmIdProperty.property_name:
            crm = prop.findtext(_EXTENDED_VALUE) or ""
    return org, crm


def extended_uri(prop: type[ExtendedProperty]) -> Any:
    """The t:ExtendedFieldURI element naming one of our properties."""
    return create_element("t:ExtendedFieldURI", attrs={
        "PropertySetId": prop.property_set_id, "PropertyName": prop.property_name,
        "PropertyType": prop.property_type,
    })


def stamp_paths() -> set[FieldPath]:
    """The two stamps as additional properties of a listing or a read."""
    return {
        FieldPath(field=Contact.get_field_by_fieldname(ORG_FIELD)),
        FieldPath(field=Contact.get_field_by_fieldname(CRM_FIELD)),
    }
