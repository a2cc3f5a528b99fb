"""Each secret's last change (the newest set, disable or destroy of its audit log), as the
vault's one-query `last_changes` finds it on SQLite and PostgreSQL, and as the web UI's
secrets list shows it, however many newer entries of other secrets the log holds."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select

from reqflo.cloud.durable.keys import load_master_key
from reqflo.store import Store
from reqflo.store.secret_audit import CHANGES, AuditEvent, AuditFilter, append
from reqflo.store.secret_models import AuditRow
from reqflo.store.secret_store import SecretVault
from test_cloud_support import opened_store
from web_support import running_site, signed_in

AUDIT = AuditRow.__tablename__


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with opened_store(request.param, tmp_path) as opened:
        yield opened


def test_the_last_change_of_each_secret(store: Store) -> None:
    vault = SecretVault(store, os.urandom(32))
    vault.put("staging", "A", "one", "alice")
    vault.put("staging", "A", "two", "bob")  # updated
    vault.put("prod", "A", "other", "carol")  # the same name in another environment
    vault.put("*", "B", "b", "alice")
    vault.disable("*", "B", "dave")
    vault.put("staging", "C", "c", "alice")
    vault.destroy("staging", "C", "erin")
    vault.put("staging", "C", "again", "frank")  # recreated after its destruction
    vault.put("staging", "D", "d", "alice")
    for run in range(3):  # resolutions are not changes
        assert vault.resolve("staging", "D", "runner", run_id=f"run-{run}").value == "d"
    vault.put("staging", "E", "e", "alice")
    vault.destroy("staging", "E", "gina")
    vault.rotate_master_key(os.urandom(32), "ops")  # names no secret
    changes = vault.last_changes()
    found = {key: (e.action, e.version, e.actor) for key, e in changes.items()}
    assert found == {
        ("staging", "A"): ("set", 2, "bob"),
        ("prod", "A"): ("set", 1, "carol"),
        ("*", "B"): ("disable", 1, "dave"),
        ("staging", "C"): ("set", 2, "frank"),
        ("staging", "D"): ("set", 1, "alice"),
        ("staging", "E"): ("destroy", 1, "gina"),
    }
    newest_of_c = vault.audit(AuditFilter(environment="staging", name="C", limit=1))
    assert changes[("staging", "C")] == newest_of_c[0]  # the very entry, hash and all
    assert set(vault.last_changes("staging")) == {("staging", n) for n in "ACDE"}
    assert vault.last_changes("*") == {("*", "B"): changes[("*", "B")]}
    assert vault.last_changes("nowhere") == {}


def test_the_query_reads_an_index_of_the_changes(store: Store) -> None:
    indexes = {i["name"]: i["column_names"] for i in inspect(store.engine).get_indexes(AUDIT)}
    assert indexes.get("ix_secret_audit_changes") == ["action", "environment", "name", "seq"]
    if store.engine.dialect.name == "sqlite":  # reads the index only, not the table
        newest = select(func.max(AuditRow.seq)).where(AuditRow.action.in_(CHANGES))
        query = newest.group_by(AuditRow.environment, AuditRow.name).compile(
            store.engine, compile_kwargs={"literal_binds": True}
        )
        with store.engine.connect() as connection:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}").all()
        assert any("COVERING INDEX ix_secret_audit_changes" in str(step) for step in plan), plan


def list_row(page: str, name: str) -> str:
    rows = re.findall(r"<tr>(?:(?!</tr>).)*</tr>", page, re.S)
    mine = [row for row in rows if f">{name}</a>" in row]
    assert len(mine) == 1, page
    return mine[0]


def test_the_list_names_a_change_older_than_thousands_of_newer_ones(
    tmp_path: Path, demo_url: str
) -> None:
    with running_site(tmp_path, demo_url) as site:
        vault = SecretVault(site.store, load_master_key(site.folder))
        vault.put("demo", "QUIET", "q", "first-admin")
        vault.put("*", "BUSY", "b", "robot")
        with site.store.session() as session:  # a secret rotated by automation, often
            for version in range(2, 5003):
                append(session, AuditEvent("robot", "set", "*", "BUSY", version))
        vault.disable("*", "BUSY", "second-admin")
        with signed_in(site, "admin") as client:
            everything = client.get("/admin/secrets").text
            demo_only = client.get("/admin/secrets", params={"environment": "demo"}).text
    for page in (everything, demo_only):
        quiet = list_row(page, "QUIET")
        assert "first-admin" in quiet and "(set)" in quiet
    busy = list_row(everything, "BUSY")
    assert "second-admin" in busy and "(disable)" in busy
    assert ">BUSY</a>" not in demo_only
