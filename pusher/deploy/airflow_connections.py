"""Airflow Connections as pusher config values (pure: a Connection is read, never fetched).

The task fetches the Connections on the worker when it runs and hands the values to pusher
in $PUSHER_OVERRIDES (see pusher.config), so no secret is in a DAG file, a command line, a
rendered template or a log line.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

# Airflow connection types whose SQLAlchemy dialect has another name.
_DIALECTS = {"postgres": "postgresql", "mssql": "mssql+pymssql", "sqlite": "sqlite"}


class ConnectionLike(Protocol):
    """The fields of an Airflow Connection pusher reads."""

    conn_type: str | None
    host: str | None
    port: int | None
    schema: str | None
    login: str | None
    password: str | None

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


def influx_values(conn: ConnectionLike) -> dict[str, Any]:
    """[influx] keys from an InfluxDB Connection, read as apache-airflow-providers-influxdb does.

    URL: `schema` is the scheme (default https), port 8086 (443 for https); extra `token`
    and `org_name` (2.x); login and password (1.x). Extra `bucket`, `database` are taken too.
    """
    extra = conn.extra_dejson
    scheme = conn.schema or "https"
    port = conn.port or (443 if scheme == "https" else 8086)
    values: dict[str, Any] = {"url": f"{scheme}://{conn.host}:{port}"}
    for key, name in (("token", "token"), ("org_name", "org"), ("bucket", "bucket"),
                      ("database", "database")):
        if extra.get(key):
            values[name] = str(extra[key])
    if conn.login:
        values["username"] = conn.login
    if conn.password:
        values["password"] = conn.password
    return values


def source_values(source_type: str, conn: ConnectionLike) -> dict[str, Any]:
    """A source's options from a Connection: `url` (SQLAlchemy form for sql), or GA's key file.

    - sql: `<dialect>://login:password@host:port/schema` (extra `sqlalchemy_scheme` wins);
    - google-analytics: `credentials` from extra `key_path` (the Google provider's key);
    - every other type (prometheus, python, plugins): `url` as Airflow's HTTP hook builds it:
      `schema` is the scheme (default http), login and password as basic auth.
    """
    extra = conn.extra_dejson
    if source_type == "google-analytics":
        path = extra.get("key_path") or extra.get("extra__google_cloud_platform__key_path")
        return {"credentials": str(path)} if path else {}
    if source_type == "sql":
        dialect = extra.get("sqlalchemy_scheme") or _DIALECTS.get(conn.conn_type or "",
                                                                    conn.conn_type or "")
        path = f"/{conn.schema}" if conn.schema else ""
        return {"url": f"{dialect}://{_authority(conn)}{path}"}
    host = conn.host or ""
    if "://" in host:  # the HTTP hook's rule: a host with a scheme is the whole base URL
        return {"url": host}
    return {"url": f"{conn.schema or 'http'}://{_authority(conn)}"}


def _authority(conn: ConnectionLike) -> str:
    auth = ""
    if conn.login:
        auth = quote(conn.login, safe="")
        if conn.password:
            auth += ":" + quote(conn.password, safe="")
        auth += "@"
    port = f":{conn.port}" if conn.port else ""
    return f"{auth}{conn.host or ''}{port}"


def secrets_of(conn: ConnectionLike) -> list[str]:
    """The values of a Connection that must be masked in Airflow's logs."""
    extra = conn.extra_dejson
    found = [conn.password or ""] + [str(extra.get(k) or "") for k in ("token",)]
    return [s for s in found if s]
