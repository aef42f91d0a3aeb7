"""geoplatform.postgis: the connection health check without a round trip, on the real server."""

from __future__ import annotations

import time

import pytest
from django.db import connection, connections


def _last_query_of(pid: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row[0] if row else ""


@pytest.mark.django_db
def test_a_live_connection_passes_without_a_query_and_a_dropped_one_is_replaced() -> None:
    kept = connections.create_connection("default")
    kept.settings_dict["CONN_HEALTH_CHECKS"] = True
    try:
        kept.ensure_connection()
        pid = kept.connection.info.backend_pid
        with kept.connection.cursor() as raw:
            raw.execute("SELECT 'last query before the check'")

        assert kept.is_usable()
        assert _last_query_of(pid) == "SELECT 'last query before the check'"  # no SELECT 1 sent

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        deadline = time.monotonic() + 5
        while kept.is_usable() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not kept.is_usable()

        # What Django does at the start of each request: the next query gets a new connection.
        kept.health_check_enabled, kept.health_check_done = True, False
        with kept.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            assert cursor.fetchone()[0] != pid
    finally:
        kept.close()


@pytest.mark.django_db
def test_server_bound_cursor_prepares_a_repeated_statement() -> None:
    """Django's cursors bind on the client and never prepare; the server-bound cursor sends
    ``$n`` placeholders, and psycopg prepares the statement once it has run 5 times."""
    from django.test.utils import CaptureQueriesContext

    from geoplatform.postgis.cursors import server_bound_cursor

    statement = "SELECT %s::int + 40 AS prepared_check"
    for value in range(6):
        with server_bound_cursor() as cur:
            cur.execute(statement, [value])
            assert cur.fetchone()[0] == value + 40
    with connection.cursor() as cur:
        cur.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%%prepared_check%%'")
        assert [r[0] for r in cur.fetchall()] == ["SELECT $1::int + 40 AS prepared_check"]
    with CaptureQueriesContext(connection) as queries:  # logged queries show their values
        with server_bound_cursor() as cur:
            cur.execute(statement, [2])
    assert queries.captured_queries[0]["sql"] == "SELECT 2::int + 40 AS prepared_check"
