"""Database roles: an owner that migrates, an application role that serves and works.

Least privilege (business data is protected, application data is rebuildable):

- **owner** (``GEOPLATFORM_DATABASE_OWNER_URL``) owns the database, the Django tables and
  the ``geo`` schema and runs every migration, pgSTAC's included. pgSTAC's migration creates
  its roles, so the owner has ``CREATEROLE`` (not superuser); the extensions that need a
  superuser (PostGIS, btree_gist, unaccent) are created beforehand by the admin connection.
- **app** (``GEOPLATFORM_DATABASE_URL``: web, workers, janitor) reads and writes the Django
  tables, creates and drops its own dataset tables inside ``geo`` (the vector ETL), and uses
  pgSTAC through pgSTAC's own ``pgstac_ingest`` role. It owns no schema and no migrated
  table, so it cannot drop or alter ``geo``, ``pgstac`` or the Django tables' structure,
  and it cannot create roles or databases.

- **reader** (``GEOPLATFORM_DATABASE_READER_URL``, optional: a reader deployment,
  ``GEOPLATFORM_MODE=reader``) may only SELECT: the Django tables, the ``geo`` datasets
  (those the app role creates later included, by default privileges) and pgSTAC's tables,
  whose ``search()`` it runs with ``pgstac.readonly``. See :func:`grant_reader`.

``scripts/db.sh`` runs :func:`prepare` (admin connection: roles, database, extensions,
grants, default privileges), then ``manage.py migrate`` (which switches to the owner, see
:func:`use_owner_connection`), then :func:`grant` (privileges on what the migrations made).
All steps are idempotent. Pure psycopg: it runs before the database exists.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import psycopg
from django.conf import settings
from django.core.management import CommandError
from django.db import connections
from psycopg import sql

logger = logging.getLogger(__name__)

PGSTAC_ROLES = ("pgstac_admin", "pgstac_read", "pgstac_ingest")
# Extensions pgSTAC and GeoDjango create with IF NOT EXISTS; PostGIS needs a superuser.
EXTENSIONS = ("postgis", "btree_gist", "unaccent")


@dataclass(frozen=True)
class Conn:
    """The parts of a postgresql:// URL that libpq needs."""

    user: str
    password: str
    host: str
    port: int
    dbname: str

    @classmethod
    def parse(cls, url: str) -> Conn:
        p = urlparse(url)
        return cls(
            user=unquote(p.username or ""),
            password=unquote(p.password or ""),
            host=p.hostname or "127.0.0.1",
            port=p.port or 5432,
            dbname=unquote(p.path.lstrip("/")),
        )

    def connect(self, dbname: str | None = None) -> psycopg.Connection:
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user or None,
            password=self.password or None,
            dbname=dbname or self.dbname,
            autocommit=True,
        )


def _role_exists(cur: psycopg.Cursor, name: str) -> bool:
    return cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone() is not None


def _ensure_login_role(cur: psycopg.Cursor, role: Conn, attributes: str) -> None:
    verb = "ALTER" if _role_exists(cur, role.user) else "CREATE"
    stmt = sql.SQL(verb + " ROLE {} WITH LOGIN " + attributes).format(sql.Identifier(role.user))
    if role.password:  # trust auth locally needs none; with scram it comes from .env
        stmt = sql.SQL("{} PASSWORD {}").format(stmt, sql.Literal(role.password))
    cur.execute(stmt)


def grant_reader(cur: psycopg.Cursor, *, reader: str, dbname: str, writers: list[str]) -> None:
    """SELECT-only grants for ``reader`` in the current database (idempotent).

    ``writers`` are the roles whose future tables in ``public`` and ``geo`` the reader may
    read at once (default privileges): the owner's migrations, the app role's datasets.
    Not pgSTAC's ``pgstac_read``: that role may INSERT and UPDATE pgSTAC's caches (searches,
    search_wheres, format_item_cache); the reader SELECTs pgSTAC's tables (partitions made
    later by pgstac_admin/pgstac_ingest included) and runs search() with pgstac.readonly.
    """
    ids = {"reader": sql.Identifier(reader), "db": sql.Identifier(dbname)}
    for stmt in (
        "GRANT CONNECT ON DATABASE {db} TO {reader}",
        "REVOKE pgstac_read FROM {reader}",  # in case an earlier set-up granted it
        "GRANT USAGE ON SCHEMA public, geo, pgstac TO {reader}",
        "GRANT SELECT ON ALL TABLES IN SCHEMA public, geo, pgstac TO {reader}",
        "ALTER DEFAULT PRIVILEGES FOR ROLE pgstac_admin, pgstac_ingest IN SCHEMA pgstac"
        " GRANT SELECT ON TABLES TO {reader}",
    ):
        cur.execute(sql.SQL(stmt).format(**ids))
    for writer in dict.fromkeys(writers):
        cur.execute(
            sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public, geo GRANT SELECT ON TABLES TO {}").format(
                sql.Identifier(writer), ids["reader"]
            )
        )
    # The H3 grid and statistics (schema h3, made by the h3grid migration; stat tables by the jobs).
    if cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'h3'").fetchone() is not None:
        cur.execute(sql.SQL("GRANT USAGE ON SCHEMA h3 TO {reader}").format(**ids))
        cur.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA h3 TO {reader}").format(**ids))
        for writer in dict.fromkeys(writers):
            cur.execute(
                sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA h3 GRANT SELECT ON TABLES TO {}").format(
                    sql.Identifier(writer), ids["reader"]
                )
            )


def prepare(*, admin_url: str, owner_url: str, app_url: str, reader_url: str | None = None) -> None:
    """Before migrate: roles, the database (owned by the owner), extensions, grants."""
    admin, owner, app = Conn.parse(admin_url), Conn.parse(owner_url), Conn.parse(app_url)
    reader = Conn.parse(reader_url) if reader_url else None
    if reader is not None and (reader.dbname != owner.dbname or reader.user in (owner.user, app.user)):
        raise SystemExit("GEOPLATFORM_DATABASE_READER_URL must name the same database as a role of its own")
    if owner.dbname != app.dbname:
        raise SystemExit(f"owner and app URLs name different databases ({owner.dbname!r}, {app.dbname!r})")
    single = owner.user == app.user
    with admin.connect(dbname=admin.dbname or "postgres") as conn, conn.cursor() as cur:
        if not single:
            # The owner creates pgSTAC's roles during its migration (CREATEROLE); it is no
            # superuser and may not create databases.
            _ensure_login_role(cur, owner, "NOSUPERUSER CREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS")
            _ensure_login_role(cur, app, "NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS INHERIT")
            for role in PGSTAC_ROLES:  # created ahead (pgSTAC tolerates it) to grant them now
                if not _role_exists(cur, role):
                    cur.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
            # pgSTAC's migration runs SET ROLE to each of its roles: the owner is in all three.
            for role in PGSTAC_ROLES:
                cur.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(role), sql.Identifier(owner.user)))
            # The app writes the catalogue through pgSTAC's functions, as pgSTAC intends.
            cur.execute(sql.SQL("GRANT pgstac_ingest TO {}").format(sql.Identifier(app.user)))
        if reader is not None:
            _ensure_login_role(cur, reader, "NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS INHERIT")
        found = cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", [owner.dbname])
        row = found.fetchone()
        if row is None:
            cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(*map(sql.Identifier, (owner.dbname, owner.user))))
            logger.info("created database %s owned by %s", owner.dbname, owner.user)
        elif row[0] != owner.user:
            cur.execute(
                sql.SQL("ALTER DATABASE {} OWNER TO {}").format(*map(sql.Identifier, (owner.dbname, owner.user)))
            )
    with admin.connect(dbname=owner.dbname) as conn, conn.cursor() as cur:
        for ext in EXTENSIONS:
            cur.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(ext)))
        if single:
            logger.warning("one role (%s) migrates and runs the platform: least privilege is off", app.user)
            return
        ids = {"owner": sql.Identifier(owner.user), "app": sql.Identifier(app.user), "db": sql.Identifier(owner.dbname)}
        cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS geo AUTHORIZATION {owner}").format(**ids))
        _take_ownership(cur, owner=owner.user, app=app.user)
        for stmt in (
            "GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {app}",
            "GRANT USAGE ON SCHEMA public TO {app}",
            "GRANT USAGE, CREATE ON SCHEMA geo TO {app}",
            # Tables and sequences the owner's migrations will create are usable at once.
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public"
            " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {app}",
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA geo"
            " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
        ):
            cur.execute(sql.SQL(stmt).format(**ids))


def _take_ownership(cur: psycopg.Cursor, *, owner: str, app: str) -> None:
    """A database first migrated and run as a superuser: hand its objects to the new roles.

    Migrated objects in ``public`` and the ``geo`` schema go to the owner; the dataset
    tables inside ``geo`` to the app role, which replaces and drops them at runtime.
    """
    rows = cur.execute(
        """
        SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('public', 'geo') AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND pg_get_userbyid(c.relowner) NOT IN (%s, %s)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
        """,
        [owner, app],
    ).fetchall()
    kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}
    for schema, name, kind in rows:
        target = app if schema == "geo" and kind != "S" else owner
        cur.execute(
            sql.SQL("ALTER " + kinds[kind] + " {}.{} OWNER TO {}").format(
                sql.Identifier(schema), sql.Identifier(name), sql.Identifier(target)
            )
        )
    if rows:
        logger.info("gave %d existing tables, views and sequences to %s / %s", len(rows), owner, app)
    cur.execute(sql.SQL("ALTER SCHEMA geo OWNER TO {}").format(sql.Identifier(owner)))


def grant(*, admin_url: str, owner_url: str, app_url: str, reader_url: str | None = None) -> None:
    """After migrate: privileges on what already existed before the default privileges."""
    admin, owner, app = Conn.parse(admin_url), Conn.parse(owner_url), Conn.parse(app_url)
    if reader_url:
        with admin.connect(dbname=owner.dbname) as conn, conn.cursor() as cur:
            grant_reader(cur, reader=Conn.parse(reader_url).user, dbname=owner.dbname, writers=[owner.user, app.user])
    if owner.user == app.user:
        return
    ids = {"app": sql.Identifier(app.user)}
    with admin.connect(dbname=owner.dbname) as conn, conn.cursor() as cur:
        for stmt in (
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app}",
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app}",
            # The diagnostics show every session's query and wait (pg_stat_activity, pg_locks).
            "GRANT pg_read_all_stats TO {app}",
        ):
            cur.execute(sql.SQL(stmt).format(**ids))
        # The H3 schema (made by the h3grid migration, so it exists only now): the workers write the
        # grid and create one statistics table per dataset in it.
        if cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'h3'").fetchone() is not None:
            for stmt in (
                "GRANT USAGE, CREATE ON SCHEMA h3 TO {app}",
                "GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA h3 TO {app}",
            ):
                cur.execute(sql.SQL(stmt).format(**ids))


def use_owner_connection() -> bool:
    """Point Django's default connection at the owner role (migrations, table rebuilds).

    Only the credentials change: the owner URL must name the same database. False when
    no owner URL is configured (one role does everything, as in the test suite).
    """
    url = getattr(settings, "GEOPLATFORM_DATABASE_OWNER_URL", None)
    if not url:
        return False
    owner = Conn.parse(url)
    current = connections["default"].settings_dict
    if owner.dbname != current["NAME"]:
        raise CommandError(
            f"GEOPLATFORM_DATABASE_OWNER_URL names database {owner.dbname!r} but GEOPLATFORM_DATABASE_URL"
            f" names {current['NAME']!r}: point both at the same database."
        )
    if owner.user == current["USER"]:
        return True
    connections["default"].close()
    current.update(USER=owner.user, PASSWORD=owner.password, HOST=owner.host, PORT=str(owner.port))
    return True


def _default_admin_url(owner_url: str, app_url: str) -> str:
    if owner_url == app_url:  # one role (as before the split): it is the admin too
        p = urlparse(app_url)
        return p._replace(path="/postgres").geturl()
    # libpq's own defaults (PGUSER, the OS user) on the owner's server.
    o = Conn.parse(owner_url)
    return f"postgresql://{o.host}:{o.port}/postgres"


def main(argv: list[str] | None = None) -> None:
    # Imported here: reads .env: only when run as the roles script.
    from geoplatform.settings import env  # loads .env

    parser = argparse.ArgumentParser(description="Create and grant GeoPlatform's database roles.")
    parser.add_argument("step", choices=["prepare", "grant"])
    args = parser.parse_args(argv)
    app_url = env.get_str("DATABASE_URL", "postgresql://root@127.0.0.1:5432/geoplatform")
    owner_url = env.get_optional("DATABASE_OWNER_URL") or app_url
    admin_url = env.get_optional("DATABASE_ADMIN_URL") or _default_admin_url(owner_url, app_url)
    reader_url = env.get_optional("DATABASE_READER_URL")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    step = prepare if args.step == "prepare" else grant
    step(admin_url=admin_url, owner_url=owner_url, app_url=app_url, reader_url=reader_url)


if __name__ == "__main__":
    main()
