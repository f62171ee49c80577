"""Lightning Sync Setup page and the configuration file.

Built like Django's own custom admin views (`UserAdmin.user_change_password`): the site wires
them with `admin_view`, they check permissions, and render templates extending
`admin/base_site.html` with the site's `each_context`.
"""

from __future__ import annotations

from secrets import token_urlsafe
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from lightningsync import configfile, setupservice
from lightningsync import permissions as perms
from lightningsync.models import LightningSyncSetup

from . import pageheader
from .access import can_edit_setup, require, require_view_setup, signed_in_user
from .connection_test_views import ConnectionTestForm
from .forms import SECRET_FIELDS, ConfigurationUploadForm, SetupForm

VIA = "Setup page"

# The page's sections, in the order an admin works through them (as in the seed's steps).
LAYOUT: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Enable Lightning Sync", "", ("enabled",)),
    (
        "Connection method",
        "Choose one way to reach your reps' mailboxes, then complete its section below.",
        ("connection_method",),
    ),
    (
        "Exchange service account",
        "For Exchange Server on premises. Create the service account and its "
        "impersonation scope on Exchange first, and check them with Microsoft's Remote "
        "Connectivity Analyzer.",
        (
            "service_account_username",
            "service_account_password",
            "ews_url",
            "autodiscover",
            "auth_type",
            "additional_domains",
        ),
    ),
    (
        "OAuth 2.0 for Exchange Online",
        "For Exchange Online, through Microsoft Graph. Register an app in Microsoft Entra ID "
        "with the application permissions Contacts.ReadWrite and Calendars.Read, limit it to "
        "the reps' mailboxes with RBAC for Applications, enter its IDs and a credential here, "
        "then use “Verify and enable”. A private certificate authority goes in the trusted CA "
        "bundle below.",
        (
            "oauth_tenant_id",
            "oauth_client_id",
            "oauth_client_secret",
            "oauth_certificate",
            "graph_url",
            "authority_url",
        ),
    ),
    (
        "Trusted certificate authorities",
        "For either connection method, when the server's certificate (Exchange on premises, "
        "or a test tenant) comes from a private certificate authority.",
        ("ca_bundle",),
    ),
    (
        "Event selection (Lightning for Outlook)",
        "",
        ("event_selection_enabled", "event_category"),
    ),
)
_CLEAR_FOR = {field: clear for field, clear, _ in SECRET_FIELDS}
_SECRET_NAME_FOR = {field: name for field, _, name in SECRET_FIELDS}


def _on_off(value: bool) -> str:
    return "On" if value else "Off"


def _display(setup: LightningSyncSetup, name: str, secret_status: dict[str, bool]) -> str:
    """What a read-only viewer sees for a setting; secrets only ever as set / not set."""
    if name in _SECRET_NAME_FOR:
        return "Set" if secret_status[_SECRET_NAME_FOR[name]] else "Not set"
    if name == "connection_method":
        return setup.get_connection_method_display()
    if name == "auth_type":
        return setup.get_auth_type_display()
    if name == "ca_bundle":
        count = setup.ca_bundle.count("-----BEGIN CERTIFICATE-----")
        return f"Set ({count} certificates)" if count else "Not set (system trusted authorities)"
    if name == "additional_domains":
        return ", ".join(setup.additional_domain_list) or "None"
    value = getattr(setup, name)
    if isinstance(value, bool):
        return _on_off(value)
    return str(value) if value else "Not set"


def _sections(
    setup: LightningSyncSetup, form: SetupForm | None, secret_status: dict[str, bool]
) -> list[dict[str, Any]]:
    sections = []
    for title, description, names in LAYOUT:
        rows = []
        for name in names:
            field = SetupForm.base_fields[name]
            bound = form[name] if form is not None else None
            is_checkbox = isinstance(field, forms.BooleanField)
            rows.append(
                {
                    "name": name,
                    "label": field.label,
                    "help_text": field.help_text,
                    "field": bound,
                    "is_checkbox": is_checkbox,
                    "label_tag": bound.label_tag(
                        attrs={"class": "vCheckboxLabel"} if is_checkbox else None,
                        label_suffix="" if is_checkbox else None,
                    )
                    if bound is not None
                    else "",
                    "display": _display(setup, name, secret_status),
                    "is_secret": name in _SECRET_NAME_FOR,
                    "clear_field": form[_CLEAR_FOR[name]]
                    if form is not None and name in _CLEAR_FOR
                    else None,
                }
            )
        sections.append(
            {
                "title": title,
                "description": description,
                "rows": rows,
                "slug": names[0] if len(names) == 1 else title.split()[0].lower(),
            }
        )
    return sections


def _consent_feedback(request: HttpRequest) -> None:
    """Microsoft sends the global administrator back here after the admin-consent prompt."""
    if request.GET.get("admin_consent", "").lower() == "true":
        messages.info(
            request,
            "Admin consent was granted. Use “Verify and enable” to switch OAuth 2.0 on.",
        )
    elif "error" in request.GET and ("admin_consent" in request.GET or "tenant" in request.GET):
        reason = request.GET.get("error_description") or request.GET["error"]
        messages.warning(request, f"Admin consent was not granted: {reason[:300]}")


def setup_page(request: HttpRequest, *, site: AdminSite) -> HttpResponse:
    require_view_setup(request.user)
    editable = can_edit_setup(request.user)
    setup = LightningSyncSetup.load()
    form: SetupForm | None = None
    if request.method == "POST":
        if not editable:
            raise PermissionDenied
        form = SetupForm(request.POST)
        verify = "_verify_oauth" in request.POST
        if form.is_valid():
            secrets, clear = form.secrets_and_clear()
            section = form.to_section()
            if verify:  # save the settings; the check decides about the method and the switch
                section.pop("enabled")
                section.pop("connection_method")
            try:
                setupservice.apply_setup(
                    section, user=signed_in_user(request), via=VIA, secrets=secrets, clear=clear
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                if verify:
                    _verify_and_enable(request)
                else:
                    messages.success(request, "Lightning Sync Setup was saved.")
                return HttpResponseRedirect(reverse("admin:lightningsync_setup"))
    else:
        _consent_feedback(request)
        if editable:
            form = SetupForm(initial=SetupForm.initial_for(setup))

    status = setupservice.secret_status(setup)
    redirect_uri = request.build_absolute_uri(reverse("admin:lightningsync_setup"))
    context = {
        **site.each_context(request),
        "setup": setup,
        "form": form,
        "editable": editable,
        "sections": _sections(setup, form, status),
        "consent_url": setupservice.admin_consent_url(setup, redirect_uri),
        "consent_redirect_uri": redirect_uri,
        "oauth_enabled": setup.enabled
        and setup.connection_method == LightningSyncSetup.ConnectionMethod.OAUTH2,
        "can_download": request.user.has_perms(perms.EXPORT_CONFIGURATION),
        "can_upload": request.user.has_perms(perms.IMPORT_CONFIGURATION),
        "connection_test_form": ConnectionTestForm(),
    }
    return TemplateResponse(request, "setupui/setup.html", context)


def _verify_and_enable(request: HttpRequest) -> None:
    """"Verify and enable": the saved OAuth settings get a token and read a mailbox, and only
    then is OAuth 2.0 switched on (SPEC §2). A refusal leaves the saved settings as they are."""
    from syncengine.cycle.oauth_access import verify_oauth_access
    from syncengine.transports.protocol import TransportError

    try:
        mailbox = verify_oauth_access(LightningSyncSetup.load())
        setupservice.enable_oauth(user=signed_in_user(request), via=VIA)
    except TransportError as exc:
        messages.error(
            request,
            f"OAuth 2.0 was not enabled: {exc.message} The settings you entered were saved.",
        )
    except ValidationError as exc:
        messages.error(request, f"OAuth 2.0 was not enabled: {' '.join(exc.messages)}")
    else:
        messages.success(
            request,
            f"OAuth 2.0 is enabled: Lightning Sync got a token from Microsoft and read the "
            f"mailbox {mailbox}. Lightning Sync is on.",
        )


@require_GET
def download_configuration(request: HttpRequest, *, site: AdminSite) -> HttpResponse:
    require(request.user, perms.EXPORT_CONFIGURATION)
    response = HttpResponse(
        configfile.dumps(configfile.export_document()),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = 'attachment; filename="lightningsync-config.json"'
    return response


# The upload waiting for the admin's "Apply": its text, the prune choice, the plan shown.
_PENDING = "lightningsync_config_upload"


@require_http_methods(["GET", "POST"])
def upload_configuration(request: HttpRequest, *, site: AdminSite) -> HttpResponse:
    """Upload, review the plan, then Apply: nothing changes before Apply (SPEC §14)."""
    require(request.user, perms.IMPORT_CONFIGURATION)
    if request.method == "POST" and "apply" in request.POST:
        return _apply_upload(request, site)
    if request.method == "POST" and "cancel" in request.POST:
        request.session.pop(_PENDING, None)
        messages.info(request, "Nothing was imported.")
        return HttpResponseRedirect(reverse("admin:lightningsync_setup"))
    errors: list[str] = []
    if request.method == "POST":
        form = ConfigurationUploadForm(request.POST, request.FILES)
        if form.is_valid():
            prune = form.cleaned_data["prune"]
            try:
                text = _decode(form.cleaned_data["file"])
                plan = configfile.import_text(
                    text, user=signed_in_user(request), prune=prune, dry_run=True
                )
            except configfile.ConfigFileError as exc:
                errors = list(exc.errors)
            else:
                _keep_pending(request, text=text, prune=prune, plan=plan)
                return _review(request, site, plan, prune=prune)
    else:
        form = ConfigurationUploadForm()
    return _upload_page(request, site, form, errors)


def _apply_upload(request: HttpRequest, site: AdminSite) -> HttpResponse:
    pending = request.session.get(_PENDING)
    if not pending or request.POST.get("token") != pending["token"]:
        return _upload_page(
            request,
            site,
            ConfigurationUploadForm(),
            [
                "This upload is no longer waiting to be applied (it was applied, cancelled, or "
                "another upload replaced it). Upload the file again."
            ],
        )
    try:
        plan = configfile.import_text(
            pending["text"],
            user=signed_in_user(request),
            prune=pending["prune"],
            expected=pending["plan"],
        )
    except configfile.ConfigFileError as exc:
        request.session.pop(_PENDING, None)
        return _upload_page(request, site, ConfigurationUploadForm(), list(exc.errors))
    except configfile.PlanChanged as exc:
        _keep_pending(request, text=pending["text"], prune=pending["prune"], plan=exc.plan)
        return _review(request, site, exc.plan, prune=pending["prune"], changed=True)
    request.session.pop(_PENDING, None)
    messages.success(request, plan.headline(applied=True))
    return HttpResponseRedirect(reverse("admin:lightningsync_setup"))


def _keep_pending(
    request: HttpRequest, *, text: str, prune: bool, plan: configfile.ImportPlan
) -> None:
    request.session[_PENDING] = {
        "text": text,
        "prune": prune,
        "plan": plan.as_dict(),
        "token": token_urlsafe(16),
    }


def _upload_page(
    request: HttpRequest, site: AdminSite, form: ConfigurationUploadForm, errors: list[str]
) -> HttpResponse:
    context = {
        **site.each_context(request),
        "form": form,
        "errors": errors,
    }
    return TemplateResponse(request, "setupui/setup_upload.html", context)


def _review(
    request: HttpRequest,
    site: AdminSite,
    plan: configfile.ImportPlan,
    *,
    prune: bool,
    changed: bool = False,
) -> HttpResponse:
    frame = site.each_context(request)
    context = {
        **frame,
        "page_header": pageheader.for_page(
            "lightningsync_config_upload_review", frame["setup_menu"]
        ),
        "plan": plan,
        "headline": plan.headline(applied=False),
        "prune": prune,
        "changed": changed,
        "token": request.session[_PENDING]["token"],
    }
    return TemplateResponse(request, "setupui/setup_upload_review.html", context)


def _decode(upload: UploadedFile) -> str:
    try:
        return upload.read().decode("utf-8")
    except UnicodeDecodeError:
        raise configfile.ConfigFileError(
            ["The file is not UTF-8 text; upload the JSON file as it was downloaded."]
        ) from None
