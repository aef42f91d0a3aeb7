"""WSGI entry point (gunicorn serves this in `make run` and production)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoplatform.settings.prod")

application = get_wsgi_application()
