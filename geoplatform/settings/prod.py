"""Production: everything from the environment; HTTPS enforced, secure cookies and HSTS on.

`make run` serves plain http on 127.0.0.1 with these settings: it turns the redirect and
secure cookies off explicitly (scripts/run.sh), never by default here.
"""

from django.core.exceptions import ImproperlyConfigured

from . import env
from .base import *  # noqa: F403

DEBUG = False

# No default database in production: an unset URL stops the start instead of silently
# connecting to a local default as a superuser.
DATABASES = {"default": env.database_from_url(env.get_str("DATABASE_URL"))}
if GEOPLATFORM_MODE == "reader":  # noqa: F405
    # A reader connects only as the read-only role: required, no fallback to the app role.
    DATABASES = {"default": env.database_from_url(env.get_str("DATABASE_READER_URL"), pgstac_readonly=True)}

SESSION_COOKIE_SECURE = env.get_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.get_bool("SECURE_SSL_REDIRECT", True)
# Load balancers and orchestrators probe readiness and liveness over plain http on the
# internal port; the detailed report (it carries a token) stays behind the redirect.
SECURE_REDIRECT_EXEMPT = [r"^api/health$", r"^api/health/live$"]
# Browsers only honour HSTS over https, so it costs nothing on the http of `make run`.
SECURE_HSTS_SECONDS = env.get_int("HSTS_SECONDS", 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.get_bool("HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env.get_bool("HSTS_PRELOAD", False)
# X-Forwarded-Proto is only trustworthy when a proxy in front sets it (and strips the
# client's own): otherwise any client could claim https and skip the redirect.
if env.get_bool("BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Debug mode puts stacks and SQL into error bodies (for geoplatform.view_debug holders only):
# never on by accident in production.
if GEOPLATFORM_DEBUG_MODE and not env.get_bool("ALLOW_DEBUG_MODE", False):  # noqa: F405
    raise ImproperlyConfigured(
        "GEOPLATFORM_DEBUG_MODE is on in production settings; set GEOPLATFORM_ALLOW_DEBUG_MODE=true "
        "as well to confirm (operators only see the internals), or turn it off."
    )
