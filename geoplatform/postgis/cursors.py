"""Cursors that bind parameters on the server, on Django's connection.

Django's psycopg cursors bind on the client (values are spliced into the SQL text), so a
statement's text changes with its values and PostgreSQL parses and plans it every time.
A server-bound cursor sends the text with ``$n`` placeholders: the same text for every call
of one statement, which psycopg prepares once it has run ``prepare_threshold`` times on the
connection (``GEOPLATFORM_DB_PREPARED_STATEMENTS``; Django's cursors never prepare).

Only for statements whose best plan does not depend on the values: a prepared statement
gets PostgreSQL's generic plan once its custom plans are no cheaper.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.backends.postgresql.base import ServerBindingCursor


def server_bound_cursor() -> Any:
    """A Django cursor (wrappers, health check, thread check) over a server-bound psycopg cursor.

    While queries are logged (DEBUG, a test's query capture) it is Django's own cursor, so the
    logged SQL shows its values.
    """
    if connection.queries_logged:
        return connection.cursor()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    cursor_class: Any = ServerBindingCursor  # django-stubs types it as psycopg2's
    return connection.make_cursor(cursor_class(connection.connection))
