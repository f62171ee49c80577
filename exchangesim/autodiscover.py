"""Autodiscover GetUserSettings over SOAP (MS-OXWSADISC), answering with the EWS URL."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from .soap import SOAPNS, esc, local, parse

if TYPE_CHECKING:
    from .control import Simulator

ANS = "http://schemas.microsoft.com/exchange/2010/Autodiscover"
WSA = "http://www.w3.org/2005/08/addressing"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
A = f"{{{ANS}}}"


def _settings(sim: Simulator, smtp: str) -> dict[str, str]:
    mbx = sim.store.mailboxes[smtp.lower()]
    major, minor, build, rev = sim.build
    return {
        "UserDisplayName": mbx.display_name,
        "AutoDiscoverSMTPAddress": mbx.smtp,
        "ExternalEwsUrl": sim.ews_url,
        "InternalEwsUrl": sim.ews_url,
        "CasVersion": f"{major}.{minor:02d}.{build:04d}.{rev:03d}",
        "EwsSupportedSchemas": "Exchange2007, Exchange2007_SP1, Exchange2010, Exchange2010_SP1, "
        "Exchange2010_SP2, Exchange2013, Exchange2013_SP1, Exchange2016",
    }


def get_user_settings(sim: Simulator, raw: bytes) -> tuple[int, bytes]:
    try:
        root = parse(raw)
    except etree.XMLSyntaxError:
        return 400, b"Bad request"
    body = root.find(f"{{{SOAPNS}}}Body")
    request = body[0] if body is not None and len(body) else None
    if request is None or local(request.tag) != "GetUserSettingsRequestMessage":
        return 400, b"Only GetUserSettings is served here"
    users = [(u.findtext(A + "Mailbox") or "").strip() for u in request.iter(A + "User")]
    wanted = [(s.text or "").strip() for s in request.iter(A + "Setting")]
    responses = []
    for user in users:
        if user.lower() not in sim.store.mailboxes:
            responses.append(
                "<UserResponse><ErrorCode>InvalidUser</ErrorCode>"
                f"<ErrorMessage>Invalid user: '{esc(user)}'</ErrorMessage>"
                f'<RedirectTarget i:nil="true"/><UserSettingErrors/><UserSettings/></UserResponse>'
            )
            continue
        have = _settings(sim, user)
        settings = "".join(
            f'<UserSetting i:type="StringSetting"><Name>{n}</Name>'
            f"<Value>{esc(have[n])}</Value></UserSetting>"
            for n in wanted
            if n in have
        )
        errors = "".join(
            f"<UserSettingError><ErrorCode>SettingIsNotAvailable</ErrorCode>"
            f"<ErrorMessage>User setting '{esc(n)}' is not available.</ErrorMessage>"
            f"<SettingName>{esc(n)}</SettingName></UserSettingError>"
            for n in wanted
            if n not in have
        )
        responses.append(
            "<UserResponse><ErrorCode>NoError</ErrorCode><ErrorMessage>No error.</ErrorMessage>"
            f'<RedirectTarget i:nil="true"/><UserSettingErrors>{errors}</UserSettingErrors>'
            f"<UserSettings>{settings}</UserSettings></UserResponse>"
        )
    major, minor, build, rev = sim.build
    text = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAPNS}" xmlns:a="{WSA}"><s:Header>'
        '<a:Action s:mustUnderstand="1">http://schemas.microsoft.com/exchange/2010/Autodiscover/'
        "Autodiscover/GetUserSettingsResponse</a:Action>"
        f'<h:ServerVersionInfo xmlns:h="{ANS}" xmlns:i="{XSI}">'
        f"<h:MajorVersion>{major}</h:MajorVersion>"
        f"<h:MinorVersion>{minor}</h:MinorVersion><h:MajorBuildNumber>{build}</h:MajorBuildNumber>"
        f"<h:MinorBuildNumber>{rev}</h:MinorBuildNumber><h:Version>Exchange2013_SP1</h:Version>"
        "</h:ServerVersionInfo></s:Header><s:Body>"
        f'<GetUserSettingsResponseMessage xmlns="{ANS}"><Response xmlns:i="{XSI}">'
        "<ErrorCode>NoError</ErrorCode><ErrorMessage/>"
        f"<UserResponses>{''.join(responses)}</UserResponses></Response>"
        "</GetUserSettingsResponseMessage></s:Body></s:Envelope>"
    )
    return 200, text.encode("utf-8")
