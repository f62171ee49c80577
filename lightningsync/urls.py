"""URLs: everything lives under the Setup (admin) site; the root redirects there."""

from typing import Any

from django.contrib import admin
from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView


class FaviconView(RedirectView):
    """Browsers ask for /favicon.ico whatever a page links: send them to the Setup icon
    (looked up per request, so a hashed static file name is found once collected)."""

    permanent = True

    def get_redirect_url(self, *args: Any, **kwargs: Any) -> str:
        return static("setupui/favicon.svg")


urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("favicon.ico", FaviconView.as_view()),
    path("admin/", admin.site.urls),
]
