"""Settings produce the eventsourcing environment; bad values are refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ledger.errors import InvalidInput
from ledger.settings import Settings


def test_sqlite_is_the_default_store(tmp_path: Path) -> None:
    env = Settings(sqlite_path=tmp_path / "l.sqlite3").eventsourcing_env()
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite"
    assert env["SQLITE_DBNAME"] == str(tmp_path / "l.sqlite3")


def test_a_postgres_url_configures_every_connection_setting() -> None:
    url = "postgresql://ledger:s%40cret@db.example:6543/coc?schema=tenant_a"
    env = Settings(database_url=url).eventsourcing_env()
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("ledger", "s@cret")
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"]) == ("db.example", "6543")
    assert (env["POSTGRES_DBNAME"], env["POSTGRES_SCHEMA"]) == ("coc", "tenant_a")


def test_a_cache_size_of_zero_turns_the_cache_off(tmp_path: Path) -> None:
    env = Settings(sqlite_path=tmp_path / "l.sqlite3", aggregate_cache_size=0).eventsourcing_env()
    assert env["AGGREGATE_CACHE_MAXSIZE"] == ""


def test_tables_are_created_unless_a_process_is_told_they_exist(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    made = Settings(sqlite_path=path).eventsourcing_env()
    told = Settings(sqlite_path=path, create_tables=False).eventsourcing_env()
    assert (made["CREATE_TABLE"], told["CREATE_TABLE"]) == ("y", "n")


def test_a_url_of_another_database_is_refused() -> None:
    with pytest.raises(ValidationError, match="postgresql://"):
        Settings(database_url="mysql://root@localhost/coc")


def test_a_postgres_url_without_a_database_name_is_refused() -> None:
    with pytest.raises(InvalidInput, match="names no database"):
        Settings(database_url="postgresql://localhost").eventsourcing_env()
