"""SOAP envelopes, faults and escaping for EWS responses.

Responses are built as strings: an EWS page of 512 items is mostly boilerplate, and string
joins with escaping are several times faster than building an lxml tree and serialising it.
Requests are parsed with lxml (entity expansion and network access off).
"""

from __future__ import annotations

from lxml import etree

SOAPNS = "http://schemas.xmlsoap.org/soap/envelope/"
MNS = "http://schemas.microsoft.com/exchange/services/2006/messages"
TNS = "http://schemas.microsoft.com/exchange/services/2006/types"
ENS = "http://schemas.microsoft.com/exchange/services/2006/errors"
T = f"{{{TNS}}}"
M = f"{{{MNS}}}"

# RequestServerVersion values Exchange 2016 accepts (MS-OXWSCDATA ExchangeVersionType).
KNOWN_VERSIONS = (
    "Exchange2007",
    "Exchange2007_SP1",
    "Exchange2009",
    "Exchange2010",
    "Exchange2010_SP1",
    "Exchange2010_SP2",
    "Exchange2013",
    "Exchange2013_SP1",
    "Exchange2015",
    "Exchange2016",
    "V2015_10_05",
    "V2016_01_06",
    "V2016_04_13",
    "V2016_07_13",
    "V2016_10_10",
    "V2017_01_07",
    "V2017_04_14",
    "V2017_07_11",
    "V2017_10_09",
    "V2018_01_08",
)

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, remove_blank_text=True, huge_tree=True
)
_ESC = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ESC_ATTR = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})
# Characters XML 1.0 cannot carry at all.
_ILLEGAL = {c: None for c in range(0x20) if c not in (0x9, 0xA, 0xD)}


def esc(text: object) -> str:
    return str(text).translate(_ESC).translate(_ILLEGAL)


def attr(text: object) -> str:
    return str(text).translate(_ESC_ATTR).translate(_ILLEGAL)


def parse(body: bytes) -> etree._Element:
    return etree.fromstring(body, _PARSER)


def local(tag: object) -> str:
    t = str(tag)
    return t.rsplit("}", 1)[-1]


def envelope(body: str, server_version: dict[str, str]) -> bytes:
    sv = server_version
    head = (
        f'<h:ServerVersionInfo xmlns:h="{TNS}" MajorVersion="{sv["major"]}" '
        f'MinorVersion="{sv["minor"]}" MajorBuildNumber="{sv["build"]}" '
        f'MinorBuildNumber="{sv["revision"]}" Version="{sv["version"]}"/>'
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAPNS}" xmlns:m="{MNS}" xmlns:t="{TNS}">'
        f"<s:Header>{head}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def fault(
    code: str, message: str, message_xml: str = "", server_version: dict[str, str] | None = None
) -> bytes:
    """A SOAP fault the way Exchange sends header-level and throttling errors.

    The detail carries e:ResponseCode and e:Message in the errors namespace and an optional
    t:MessageXml (in the *types* namespace), which is where BackOffMilliseconds lives.
    """
    mx = f'<t:MessageXml xmlns:t="{TNS}">{message_xml}</t:MessageXml>' if message_xml else ""
    body = (
        f'<s:Fault><faultcode xmlns:a="{TNS}">a:{code}</faultcode>'
        f'<faultstring xml:lang="en-US">{esc(message)}</faultstring>'
        f'<detail><e:ResponseCode xmlns:e="{ENS}">{code}</e:ResponseCode>'
        f'<e:Message xmlns:e="{ENS}">{esc(message)}</e:Message>{mx}</detail></s:Fault>'
    )
    head = ""
    if server_version:
        sv = server_version
        head = (
            f'<s:Header><h:ServerVersionInfo xmlns:h="{TNS}" MajorVersion="{sv["major"]}" '
            f'MinorVersion="{sv["minor"]}" MajorBuildNumber="{sv["build"]}" '
            f'MinorBuildNumber="{sv["revision"]}" Version="{sv["version"]}"/></s:Header>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAPNS}">{head}<s:Body>{body}</s:Body></s:Envelope>'
    ).encode()


def response_messages(operation: str, messages: list[str]) -> str:
    return (
        f"<m:{operation}Response><m:ResponseMessages>{''.join(messages)}"
        f"</m:ResponseMessages></m:{operation}Response>"
    )


def success(operation: str, inner: str) -> str:
    return (
        f'<m:{operation}ResponseMessage ResponseClass="Success">'
        f"<m:ResponseCode>NoError</m:ResponseCode>{inner}</m:{operation}ResponseMessage>"
    )


def error(operation: str, code: str, text: str, extra: str = "", message_xml: str = "") -> str:
    mx = f"<m:MessageXml>{message_xml}</m:MessageXml>" if message_xml else ""
    return (
        f'<m:{operation}ResponseMessage ResponseClass="Error">'
        f"<m:MessageText>{esc(text)}</m:MessageText><m:ResponseCode>{code}</m:ResponseCode>"
        f"<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>{mx}{extra}"
        f"</m:{operation}ResponseMessage>"
    )


def xml_bool(value: bool) -> str:
    return "true" if value else "false"


def parse_bool(text: str | None) -> bool:
    return (text or "").strip().lower() in ("true", "1")
