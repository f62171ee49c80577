"""WSGI entry point (gunicorn, mod_wsgi, waitress...)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lightningsync.settings")
application = get_wsgi_application()
