"""The read-model tables of one generation, on the ledger's own SQLite file or PostgreSQL
schema, and the transactions that change them together with their tracking position."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Tracking

from ledger.application import Ledger
from ledger.own_tables import OwnTables
from ledger.postgres_reads import SERIAL_PLANS, PostgresReads
from ledger.sqlite_reads import SqliteReads

GENERATIONS = "readmodel_generations"
TRACKING = "readmodel_tracking"

# {t} is the generation's table prefix. Times are ISO 8601 UTC text (same order as time).
TABLES = {
    "entities": (
        "id TEXT PRIMARY KEY, coc TEXT NOT NULL, kind TEXT NOT NULL, ref TEXT NOT NULL, "
        "agency_ref TEXT, version INTEGER NOT NULL, position BIGINT NOT NULL",
        ["coc, kind, ref", "coc, agency_ref"],
    ),
    # an audit line says which entity's event is at a log position; the event itself (its
    # id, both clocks, who recorded it, from where) is the log's row there (``log_join``)
    "audit": (
        "position BIGINT PRIMARY KEY, entity_id TEXT NOT NULL, version INTEGER NOT NULL, "
        "coc TEXT NOT NULL, kind TEXT NOT NULL, ref TEXT NOT NULL, type TEXT NOT NULL, "
        "corrects_version INTEGER",
        ["entity_id, version"],
    ),
    "users": (
        "coc TEXT NOT NULL, ref TEXT NOT NULL, entity_id TEXT NOT NULL, agency_ref TEXT, "
        "overall TEXT NOT NULL, hmis_role TEXT, policy_version TEXT NOT NULL, "
        "as_of TEXT NOT NULL, valid_until TEXT, position BIGINT NOT NULL, "
        "evaluation TEXT NOT NULL, answer TEXT NOT NULL, PRIMARY KEY (coc, ref)",
        # an agency's users in order of ref: a page of them reads only theirs (a generation
        # made by an older version has this index without ref, and pages through the CoC)
        ["coc, agency_ref, ref", "coc, valid_until"],
    ),
    "calendar": (
        "coc TEXT NOT NULL, subject_kind TEXT NOT NULL, subject_ref TEXT NOT NULL, "
        "agency_ref TEXT, clause TEXT NOT NULL, what TEXT NOT NULL, on_date TEXT NOT NULL, "
        "state TEXT NOT NULL",
        ["coc, on_date", "coc, subject_kind, subject_ref"],
    ),
    "agencies": (
        "coc TEXT NOT NULL, ref TEXT NOT NULL, entity_id TEXT NOT NULL, "
        "summary TEXT NOT NULL, position BIGINT NOT NULL, PRIMARY KEY (coc, ref)",
        [],
    ),
    "regions": (
        "coc TEXT NOT NULL, region TEXT NOT NULL, agency_ref TEXT NOT NULL, "
        "agreement_ref TEXT NOT NULL, revision TEXT NOT NULL, executed_at TEXT NOT NULL, "
        "PRIMARY KEY (coc, region, agency_ref)",
        ["coc, agency_ref"],
    ),
    # the users of each agency by their projected status, kept by triggers on the users
    # table (``create_user_counting``): an agency's counts are read without walking its users
    "user_counts": (
        "coc TEXT NOT NULL, agency_ref TEXT NOT NULL, overall TEXT NOT NULL, "
        "users BIGINT NOT NULL, PRIMARY KEY (coc, agency_ref, overall)",
        [],
    ),
    # users to evaluate
    "pending": (
        "entity_id TEXT PRIMARY KEY, coc TEXT NOT NULL, ref TEXT NOT NULL",
        [],
    ),
    # agencies and intakes whose rows to derive again
    "derive": (
        "entity_id TEXT PRIMARY KEY, coc TEXT NOT NULL, ref TEXT NOT NULL, kind TEXT NOT NULL",
        [],
    ),
    # corrections applied while the audit trail's entity index is not there (a bulk load):
    # the version each corrects is looked up once the index is made
    "corrections": (
        "entity_id TEXT NOT NULL, corrected_event TEXT NOT NULL, position BIGINT PRIMARY KEY",
        [],
    ),
}

# An audit line's event itself is the log's row at its position, read from there (``log_join``),
# not copied: a copy had made the audit table larger than the log. Generations made by older
# versions have more columns, and are followed in their shape (readers use only the columns
# above and the log's row): between ``type`` and ``corrects_version``, these fields of the
# event, as ``rows.audit_fields`` gives them (their copy cost a rebuild about a tenth of its
# time) ...
OLD_EVENT_COLUMNS = (
    "event_id TEXT NOT NULL, effective_at TEXT NOT NULL, recorded_at TEXT NOT NULL, "
    "actor TEXT NOT NULL, source TEXT NOT NULL, request_id TEXT NOT NULL"
)
# ... and in the oldest, after them all, a copy of the event as stored
OLD_PAYLOAD_COLUMN = "payload"

# The audit trail's (entity_id, version) index (the first of its list above). Its keys are
# random (entity ids), so each line inserted lands on another page of it and every commit
# writes most of it again: applying a long log line by line grows quadratically. A
# generation built from a long log is loaded without it, and it is made in one pass after;
# so is its feed index (``NAMED_INDEXES``): on PostgreSQL, copying the 494,415 lines of
# scripts/bench_rebuild's log cost the server 1.7 s of CPU with it, 0.7-1.1 s without, and
# making it afterwards 0.35 s (on SQLite about the same either way).
ENTITY_INDEX = ("audit", 0)
FEED_INDEX = "audit_feed"


# Columns of JSON documents (a user's evaluation is about 2 kB, its answer as much again),
# which PostgreSQL compresses when a row is over about 2 kB: with lz4 where the server has
# it, not its default pglz. Writing the users rows of a 494,415-event log cost the server
# 1.7 s of CPU with pglz, 1.0 s with lz4.
COMPRESSED = {"users": ("evaluation", "answer"), "agencies": ("summary",)}

# An INSERT of one row's values, as insert_many takes it: table, values, the rest
_INSERT_VALUES = re.compile(r"INSERT INTO (\S+) VALUES \((.*?)\)(.*)", re.DOTALL)

# Indexes named for what they serve (the numbered ones above are named by their place in the
# list), made with a generation's tables; a generation made before one existed gets it from
# add_missing_indexes.
NAMED_INDEXES = {
    "audit_feed": ("audit", "coc, position"),  # the event feed of one CoC
}

# What the user-counting triggers do to a row of user_counts: add one user of a status to
# its agency's count (an agency_ref of '' for users of no agency), or take one away (a count
# of none is no row, as in counts made from the users table).
_COUNT_IN = (  # {alias}: PostgreSQL names the row there (its "users" alone is ambiguous)
    "INSERT INTO {counts}{alias} VALUES (NEW.coc, COALESCE(NEW.agency_ref, ''), NEW.overall, 1) "
    "ON CONFLICT (coc, agency_ref, overall) DO UPDATE SET users = {row}users + 1"
)
_COUNT_OUT = (
    "UPDATE {counts} SET users = users - 1 WHERE coc = OLD.coc "
    "AND agency_ref = COALESCE(OLD.agency_ref, '') AND overall = OLD.overall; "
    "DELETE FROM {counts} WHERE users = 0 AND coc = OLD.coc "
    "AND agency_ref = COALESCE(OLD.agency_ref, '') AND overall = OLD.overall"
)
# an update that moves a user to another status or agency (the users upsert sets both always)
_MOVED = (
    "OLD.overall <> NEW.overall OR COALESCE(OLD.agency_ref, '') <> COALESCE(NEW.agency_ref, '')"
)


class ReadModelDb(OwnTables):
    """Connections, SQL dialect and tracking for the read models of one store."""

    def __init__(self, ledger: Ledger, *, postgres_reads: bool = False) -> None:
        """``postgres_reads``: on PostgreSQL, read on connections of this object's own too
        (one per thread, ``PostgresReads``; ``close()`` closes them). On a SQLite file it
        always does (``SqliteReads``)."""
        super().__init__(ledger, TRACKING)
        self._log = self.table(ledger.recorder.events_table_name)  # type: ignore[attr-defined]
        self._types: dict[str, list[str]] = {}  # PostgreSQL tables' column types, by name
        self._unnest: dict[str, str] = {}  # insert_many's statements, as PostgreSQL runs them
        pool = self.datastore.pool
        self.reads: SqliteReads | PostgresReads | None = None
        if self.postgres and postgres_reads:
            timeout = max(1, round(pool.timeout))
            self.reads = PostgresReads(pool.kwargs | {"connect_timeout": timeout})
        elif not self.postgres and not pool.is_sqlite_memory_mode:
            self.reads = SqliteReads(pool.db_name)
        with self.creating_tables(), self.transaction() as cursor:
            self.execute(
                cursor,
                f"CREATE TABLE IF NOT EXISTS {self.table(GENERATIONS)} ("
                "generation INTEGER PRIMARY KEY, status TEXT NOT NULL, "
                "created_at TEXT NOT NULL, switched_at TEXT, note TEXT NOT NULL)",
            )

    # --- naming and SQL ------------------------------------------------------------------

    def prefix(self, generation: int) -> str:
        return f"rm{generation}_"

    def log_join(self, audit: str) -> str:
        """A join of the audit lines named ``audit`` (their alias) to the log's rows of their
        positions, named ``log``: ``log.state`` is the event as stored."""
        position = "notification_id" if self.postgres else "rowid"
        return f"JOIN {self._log} log ON log.{position} = {audit}.position"

    def sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.postgres else statement

    def execute(self, cursor: Any, statement: str, params: Sequence[Any] = ()) -> None:
        cursor.execute(self.sql(statement), tuple(params))

    def query(
        self, cursor: Any, statement: str, params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        """Rows as tuples on both backends (PostgreSQL's cursors give dicts)."""
        cursor.execute(self.sql(statement), tuple(params))
        if self.postgres:
            return [tuple(r.values()) for r in cursor.fetchall()]
        return list(map(tuple, cursor.fetchall()))  # sqlite3.Row objects

    def plan_serially(self, cursor: Any) -> None:
        """On PostgreSQL, plan the rest of the transaction's statements without parallel
        workers (``SERIAL_PLANS``)."""
        if self.postgres:
            cursor.execute(SERIAL_PLANS)

    def executemany(self, cursor: Any, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            cursor.executemany(self.sql(statement), rows)

    def insert_many(self, cursor: Any, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run ``INSERT INTO table VALUES (...) [ON CONFLICT ...]``, its values ``?`` or
        constants, once for each of ``rows``. PostgreSQL takes them in one statement, each
        placeholder's values as an array of its column's type (``unnest``), rather than a
        statement per row: for 23,336 entities' rows 500 at a time, this process's CPU 0.18 s
        against 0.35 s, the server's 0.31-0.38 s against 0.47-0.53 s. (Wide rows of long
        text are not for this: their arrays cost psycopg far more than they save.) A row
        must not update a row another one inserts or updates (PostgreSQL refuses it in one
        statement)."""
        if _INSERT_VALUES.fullmatch(statement) is None:
            raise ValueError(f"not an INSERT INTO ... VALUES (...): {statement}")
        if not rows:
            return
        if not self.postgres:
            cursor.executemany(statement, rows)
            return
        cursor.execute(
            self._unnested(cursor, statement), [list(values) for values in zip(*rows, strict=True)]
        )

    def _unnested(self, cursor: Any, statement: str) -> str:
        """``insert_many``'s statement for PostgreSQL (made once per statement)."""
        found = self._unnest.get(statement)
        if found is None:
            table, values, rest = _INSERT_VALUES.fullmatch(statement).groups()  # type: ignore[union-attr]
            types = self._column_types(cursor, table)
            arrays, selected = [], []
            for value, column_type in zip(values.split(", "), types, strict=True):
                if value == "?":
                    arrays.append(f"%s::{column_type}[]")
                    value = f"v.c{len(arrays)}"
                selected.append(value)
            names = ", ".join(f"c{n}" for n in range(1, len(arrays) + 1))
            found = self._unnest[statement] = (
                f"INSERT INTO {table} SELECT {', '.join(selected)} "
                f"FROM unnest({', '.join(arrays)}) AS v({names}){rest}"
            )
        return found

    def insert(self, cursor: Any, table: str, rows: Sequence[Sequence[Any]]) -> None:
        """Insert whole rows (every column, in order) into ``table`` (qualified). PostgreSQL
        copies them (COPY): an executemany binds and runs one statement per row, about five
        times the time for the audit lines of a long log. In binary form, as the table's
        column types (read from its catalogue once): the 494,415 lines of
        scripts/bench_rebuild's log cost this process 0.27 s of CPU and the server 0.73-1.03
        s so, 0.40-0.48 s and 0.71-1.09 s as text."""
        if not rows:
            return
        if self.postgres:
            types = self._column_types(cursor, table)
            with cursor.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
        else:
            places = ", ".join("?" * len(rows[0]))
            cursor.executemany(f"INSERT INTO {table} VALUES ({places})", rows)

    def _column_types(self, cursor: Any, table: str) -> list[str]:
        """A PostgreSQL table's column types in column order (``table`` qualified)."""
        types = self._types.get(table)
        if types is None:
            found = self.query(
                cursor,
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = ?::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                (table,),
            )
            types = self._types[table] = [str(t) for (t,) in found]
        return types

    def delete(
        self, cursor: Any, table: str, columns: Sequence[str], keys: Sequence[Sequence[str]]
    ) -> None:
        """Delete the rows of ``table`` (qualified) whose text ``columns`` equal one of
        ``keys``. PostgreSQL takes them in one statement, as arrays: clearing the calendar
        rows of scripts/bench_rebuild's 23,336 users 500 at a time cost this process 0.42 s
        of CPU and the server 0.25 s with one statement per key, 0.08 s and 0.01 s so;
        taking them off the queue 0.29 s and 0.26 s, 0.05 s and 0.10 s."""
        if not keys:
            return
        if self.postgres:
            arrays = ", ".join(["%s::text[]"] * len(columns))
            match = " AND ".join(f"t.{c} = k.{c}" for c in columns)
            cursor.execute(
                f"DELETE FROM {table} t USING unnest({arrays}) AS k({', '.join(columns)}) "
                f"WHERE {match}",
                [list(values) for values in zip(*keys, strict=True)],
            )
        else:
            match = " AND ".join(f"{c} = ?" for c in columns)
            cursor.executemany(f"DELETE FROM {table} WHERE {match}", keys)

    def fetchall(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one query outside any write transaction: through this thread's read
        connection (``SqliteReads``, ``PostgresReads``) if there is one, else in a read-only
        transaction of the pool's."""
        if self.reads is not None:
            return self.reads.fetchall(self.sql(statement), params)
        with self.transaction(commit=False) as cursor:
            return self.query(cursor, statement, params)

    @property
    def reads_are_local(self) -> bool:
        """Whether a read is a query of a local file on a connection of its own (tens of
        microseconds: cheaper to run where it is asked than to hand to a thread)."""
        return isinstance(self.reads, SqliteReads)

    def close(self) -> None:
        if self.reads is not None:
            self.reads.close()

    # --- one generation's tables ---------------------------------------------------------

    def create_generation_tables(self, cursor: Any, generation: int) -> None:
        for name, (columns, indexes) in TABLES.items():
            table = self.table(self.prefix(generation) + name)
            if not self.postgres:  # the rowid itself, not a second index beside it
                columns = columns.replace("BIGINT PRIMARY KEY", "INTEGER PRIMARY KEY")
            self.execute(cursor, f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
            for number in range(len(indexes)):
                self._create_numbered_index(cursor, generation, name, number)
        for index in NAMED_INDEXES:
            self._create_named_index(cursor, generation, index)
        self.create_user_counting(cursor, generation)

    def compress_documents(self, cursor: Any, generation: int) -> None:
        """On PostgreSQL built with lz4, have a new generation's tables compress their JSON
        documents (``COMPRESSED``) with it. Not for a generation made by an older version:
        it may lack those columns, and altering a table readers use would lock them out."""
        if self.postgres and self._has_lz4(cursor):
            for name, compressed in COMPRESSED.items():
                table = self.table(self.prefix(generation) + name)
                alter = ", ".join(f"ALTER COLUMN {c} SET COMPRESSION lz4" for c in compressed)
                self.execute(cursor, f"ALTER TABLE {table} {alter}")

    def _has_lz4(self, cursor: Any) -> bool:
        """Whether the PostgreSQL server can compress with lz4 (built with it)."""
        found = self.query(
            cursor,
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
            "WHERE name = 'default_toast_compression'",
        )
        return bool(found and found[0][0])

    def create_user_counting(self, cursor: Any, generation: int) -> None:
        """Triggers that keep user_counts equal to the users table's rows counted by CoC,
        agency and status, in the transaction of each change to it; and the counts of the
        users already there (a generation made before user_counts existed, or loaded in
        bulk without the triggers, see ``drop_user_counting``)."""
        prefix = self.prefix(generation)
        users, counts = (self.table(prefix + name) for name in ("users", "user_counts"))
        alias, row = (" AS c", "c.") if self.postgres else ("", "")
        count_in = _COUNT_IN.format(counts=counts, alias=alias, row=row)
        count_out = _COUNT_OUT.format(counts=counts)
        moved = "AFTER UPDATE OF overall, agency_ref"
        if self.postgres:
            function = self.table(prefix + "count_users")
            self.execute(
                cursor,
                f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN IF TG_OP <> 'INSERT' THEN {count_out}; END IF; "
                f"IF TG_OP <> 'DELETE' THEN {count_in}; END IF; RETURN NULL; END $$",
            )
            for name, event, when in [
                ("users_counted", "AFTER INSERT OR DELETE", ""),
                ("users_recounted", moved, f" WHEN ({_MOVED})"),
            ]:
                self.execute(
                    cursor,
                    f"CREATE OR REPLACE TRIGGER {prefix}{name} {event} ON {users} "
                    f"FOR EACH ROW{when} EXECUTE FUNCTION {function}()",
                )
        else:
            for name, event, when, body in [
                ("users_counted_in", "AFTER INSERT", "", count_in),
                ("users_counted_out", "AFTER DELETE", "", count_out),
                ("users_recounted", moved, f" WHEN {_MOVED}", f"{count_out}; {count_in}"),
            ]:
                self.execute(
                    cursor,
                    f"CREATE TRIGGER IF NOT EXISTS {prefix}{name} {event} ON {users} "
                    f"FOR EACH ROW{when} BEGIN {body}; END",
                )
        self.execute(cursor, f"DELETE FROM {counts}")
        self.execute(
            cursor,
            f"INSERT INTO {counts} SELECT coc, COALESCE(agency_ref, ''), overall, COUNT(*) "
            f"FROM {users} GROUP BY coc, COALESCE(agency_ref, ''), overall",
        )

    def _counting_triggers(self, generation: int) -> list[str]:
        prefix = self.prefix(generation)
        if self.postgres:
            return [f"{prefix}users_counted", f"{prefix}users_recounted"]
        return [
            f"{prefix}{name}"
            for name in ("users_counted_in", "users_counted_out", "users_recounted")
        ]

    def has_user_counting(self, generation: int) -> bool:
        """Whether the triggers that keep user_counts are there."""
        return set(self._counting_triggers(generation)) <= self._catalogue("trigger")

    def drop_user_counting(self, cursor: Any, generation: int) -> None:
        """Drop the triggers that keep user_counts (the counts are then stale until
        ``create_user_counting`` counts them again): a generation loaded in bulk writes its
        users rows without them, about 25 µs of the server's CPU each on PostgreSQL."""
        users = self.table(self.prefix(generation) + "users")
        for trigger in self._counting_triggers(generation):
            on = f" ON {users}" if self.postgres else ""
            self.execute(cursor, f"DROP TRIGGER IF EXISTS {trigger}{on}")

    def _numbered_index(self, generation: int, table: str, number: int) -> str:
        return f"{self.prefix(generation)}{table}_i{number}"

    def _create_numbered_index(self, cursor: Any, generation: int, table: str, number: int) -> None:
        self.execute(
            cursor,
            f"CREATE INDEX IF NOT EXISTS {self._numbered_index(generation, table, number)} ON "
            f"{self.table(self.prefix(generation) + table)} ({TABLES[table][1][number]})",
        )

    def _audit_indexes(self, generation: int) -> list[str]:
        """The audit trail's indexes a bulk load goes without (``ENTITY_INDEX``)."""
        feed = self.prefix(generation) + FEED_INDEX
        return [self._numbered_index(generation, *ENTITY_INDEX), feed]

    def has_audit_indexes(self, generation: int) -> bool:
        return set(self._audit_indexes(generation)) <= self._catalogue("index")

    def drop_audit_indexes(self, cursor: Any, generation: int) -> None:
        for index in self._audit_indexes(generation):
            self.execute(cursor, f"DROP INDEX IF EXISTS {self.table(index)}")

    def create_audit_indexes(self, cursor: Any, generation: int) -> None:
        self._create_numbered_index(cursor, generation, *ENTITY_INDEX)
        self._create_named_index(cursor, generation, FEED_INDEX)

    def _create_named_index(self, cursor: Any, generation: int, index: str) -> None:
        name, columns = NAMED_INDEXES[index]
        table = self.table(self.prefix(generation) + name)
        self.execute(
            cursor,
            f"CREATE INDEX IF NOT EXISTS {self.prefix(generation)}{index} ON {table} ({columns})",
        )

    def _catalogue(self, kind: str) -> set[str]:
        """Names of the tables, indexes or triggers in the store's schema (a read of the catalogue,
        which takes no lock on them)."""
        if not self.postgres:
            found = self.fetchall("SELECT name FROM sqlite_master WHERE type = ?", (kind,))
        elif kind == "trigger":
            found = self.fetchall(
                "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal "
                "AND n.nspname = COALESCE(NULLIF(?, ''), current_schema())",
                (self.schema,),
            )
        elif kind == "table":
            found = self.fetchall(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                "COALESCE(NULLIF(?, ''), current_schema())",
                (self.schema,),
            )
        else:
            found = self.fetchall(
                "SELECT indexname FROM pg_indexes WHERE schemaname = "
                "COALESCE(NULLIF(?, ''), current_schema())",
                (self.schema,),
            )
        return {name for (name,) in found}

    def columns(self, table: str) -> set[str]:
        """The names of a table's columns (``table`` unqualified, as ``table()`` takes it)."""
        if not self.postgres:
            found = self.fetchall("SELECT name FROM pragma_table_info(?)", (table,))
        else:
            found = self.fetchall(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                "COALESCE(NULLIF(?, ''), current_schema()) AND table_name = ?",
                (self.schema, table),
            )
        return {name for (name,) in found}

    def add_missing_indexes(self, generation: int) -> None:
        """Create the named indexes a generation made by an older version lacks, looking in
        the catalogue first (as add_missing_tables does)."""
        existing = self._catalogue("index")
        missing = [i for i in NAMED_INDEXES if self.prefix(generation) + i not in existing]
        if not missing:
            return
        with self.creating_tables(), self.transaction() as cursor:
            for index in missing:
                self._create_named_index(cursor, generation, index)

    def add_missing_counting(self, generation: int) -> None:
        """Count the users of a generation that serves reads and make the triggers that keep
        them counted, if they are not there: a bulk load goes without them until it ends
        (``drop_user_counting``), and one an older version resumed and switched may have
        gone live so."""
        if self.has_user_counting(generation):
            return
        with self.creating_tables(), self.transaction() as cursor:
            self.create_user_counting(cursor, generation)

    def add_missing_tables(self, generation: int) -> None:
        """Create the tables a generation made by an older version lacks. Looks in the
        catalogue first: creating what exists would still lock it (PostgreSQL's CREATE INDEX
        IF NOT EXISTS), and other processes may be writing to it."""
        existing = self._catalogue("table")
        prefix = self.prefix(generation)
        if all(prefix + name in existing for name in TABLES):
            return
        with self.creating_tables(), self.transaction() as cursor:
            self.create_generation_tables(cursor, generation)

    def drop_generation_tables(self, cursor: Any, generation: int) -> None:
        self._types.clear()  # a generation made again under this number may differ
        self._unnest.clear()
        for name in TABLES:  # a table's triggers go with it
            self.execute(
                cursor, f"DROP TABLE IF EXISTS {self.table(self.prefix(generation) + name)}"
            )
        if self.postgres:
            function = self.table(self.prefix(generation) + "count_users")
            self.execute(cursor, f"DROP FUNCTION IF EXISTS {function}()")

    def application_name(self, generation: int) -> str:
        return f"readmodels-g{generation}"

    def position(self, generation: int) -> int:
        """The last log position the generation has applied (0 before the first)."""
        return self.tracking.max_tracking_id(self.application_name(generation)) or 0

    def queued(self, generation: int) -> int:
        """Users the generation has queued to evaluate, and agencies or intakes to derive
        again."""
        tables = [self.table(self.prefix(generation) + q) for q in ("pending", "derive")]
        return sum(int(self.fetchall(f"SELECT COUNT(*) FROM {t}")[0][0]) for t in tables)

    def clear_position(self, cursor: Any, generation: int) -> None:
        """Forget the position of a generation number about to be (re)used."""
        table = self.table(TRACKING) if self.postgres else "tracking"
        self.execute(
            cursor,
            f"DELETE FROM {table} WHERE application_name = ?",
            (self.application_name(generation),),
        )

    def position_in(self, cursor: Any, generation: int) -> int:
        """The generation's position as the transaction of ``cursor`` sees it."""
        found = self.tracking._max_tracking_id(  # type: ignore[attr-defined]
            self.application_name(generation), cursor
        )
        return int(found or 0)

    def record_position(self, cursor: Any, generation: int, position: int) -> None:
        """Record the position in the same transaction as the changes it covers."""
        self.tracking._insert_tracking(  # type: ignore[attr-defined]
            cursor, Tracking(self.application_name(generation), position)
        )
