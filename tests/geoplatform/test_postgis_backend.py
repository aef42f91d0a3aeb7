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
