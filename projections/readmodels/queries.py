"""Reading the current generation of the read models. Answers that depend on time are right
at query time: a user row past its ``valid_until`` is evaluated again before it is shown."""

from __future__ import annotations

import time
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

import orjson

from ledger.application import Ledger
from ledger.errors import NotFound
from projections.compliance.results import Evaluation
from projections.compliance.service import ComplianceService
from projections.readmodels import generations, rows
from projections.readmodels.db import ReadModelDb
from projections.readmodels.events import line_event

ALL = 2**62  # a LIMIT that keeps everything, on SQLite and PostgreSQL alike
# the columns rows.user_answer makes a user's answer of, for a generation made before its
# users rows held their answers (it is read as it was made; a rebuild makes the new form)
OLD_ANSWER_COLUMNS = "coc, ref, agency_ref, overall, hmis_role, as_of, evaluation"


# Set where a query must not read the event store, only the read-model tables (see NeedsStore).
TABLES_ONLY: ContextVar[bool] = ContextVar("readmodels_tables_only", default=False)


class NeedsStore(Exception):
    """Raised, while ``TABLES_ONLY`` is set, by a query that needs the event store as well (a
    user whose status changed by itself since it was projected is evaluated from it): the
    caller asks again where reading the store may wait."""


# How long the number of the current generation is trusted before it is looked up again. A
# switch keeps the previous generation's tables until the next switch, so a reader that
# missed a switch for that long still reads a whole generation.
GENERATION_SECONDS = 0.5


class Tables(dict[str, str]):
    """The table names of one generation, by read model; ``has_answers``: whether its users
    rows hold their answers (a generation made by an older version does not)."""

    def __init__(self, names: dict[str, str], has_answers: bool) -> None:
        super().__init__(names)
        self.has_answers = has_answers


class ReadModels:
    """Queries over whichever generation is current when each query starts."""

    def __init__(self, ledger: Ledger, db: ReadModelDb, compliance: ComplianceService) -> None:
        self.ledger = ledger
        self.db = db
        self.compliance = compliance
        self._current: tuple[float, int, Tables] | None = None

    def _tables(self) -> Tables:
        cached = self._current
        if cached is not None and time.monotonic() - cached[0] < GENERATION_SECONDS:
            return cached[2]
        number = generations.current(self.db)
        if number is None:
            raise NotFound("the read models have not been built yet")
        if cached is not None and cached[1] == number:
            tables = cached[2]
        else:
            prefix = self.db.prefix(number)
            names = {
                name: self.db.table(prefix + name)
                for name in (
                    "entities",
                    "audit",
                    "users",
                    "user_counts",
                    "calendar",
                    "agencies",
                    "regions",
                )
            }
            tables = Tables(names, "answer" in self.db.columns(prefix + "users"))
        self._current = (time.monotonic(), number, tables)
        return tables

    # --- users ---------------------------------------------------------------------------

    def _answers(
        self, where: str, params: tuple[Any, ...], now: datetime, limit: int = 1
    ) -> list[tuple[str, str]]:
        """The ref and answer (``UserStatus`` as JSON text) of each user ``where`` finds, in
        order of ref, at most ``limit``: as projected while fresh, else evaluated now."""
        t = self._tables()
        columns = "answer" if t.has_answers else OLD_ANSWER_COLUMNS
        found = self.db.fetchall(  # ref named again: PostgreSQL's rows are by column name
            f"SELECT ref AS key, valid_until, {columns} FROM {t['users']} WHERE {where} "
            "ORDER BY ref LIMIT ?",
            (*params, limit),
        )
        if not t.has_answers:
            found = [(row[0], row[1], rows.user_answer(*row[2:])) for row in found]
        moment = rows.iso(now) or ""
        return [
            (ref, text)
            if valid_until is None or valid_until > moment
            else (ref, self._evaluated_now(orjson.loads(text), now))
            for ref, valid_until, text in found
        ]

    def _evaluate(self, coc: str, ref: str, now: datetime) -> Evaluation:
        """A user whose projected answer expired by itself (a certificate ran out, a
        deadline passed), evaluated from the event store at ``now``."""
        if TABLES_ONLY.get():
            raise NeedsStore(f"user {ref!r} of {coc} is evaluated from the event store")
        return self.compliance.evaluate_user(coc, ref, now)

    def _evaluated_now(self, projected: dict[str, Any], now: datetime) -> str:
        live = self._evaluate(projected["coc"], projected["ref"], now)
        return rows.dumps(
            projected
            | {
                "overall": str(live.overall),
                "hmis_role": live.access.hmis_role if live.access else None,
                "evaluated": "at query time",
                "evaluation": live.as_dict(),
            }
        )

    def _user_answer(self, coc: str, ref: str, now: datetime) -> str:
        found = self._answers("coc = ? AND ref = ?", (coc, ref), now)
        if not found:
            raise NotFound(f"user {ref!r} does not exist in {coc}")
        return found[0][1]

    def user_json(self, coc: str, ref: str, now: datetime) -> orjson.Fragment:
        """A user's projected status as the JSON text of its answer, to be rendered as it
        is."""
        return orjson.Fragment(self._user_answer(coc, ref, now))

    def user(self, coc: str, ref: str, now: datetime) -> dict[str, Any]:
        """A user's projected status."""
        return dict(orjson.loads(self._user_answer(coc, ref, now)))

    def users_json(
        self, coc: str, now: datetime, *, agency: str | None = None, after: str = "", limit: int
    ) -> list[tuple[str, orjson.Fragment]]:
        """Users of a CoC (or one agency) in order of ref, ``limit`` after ``after``: each
        user's ref and its answer as ``user_json`` gives it."""
        if agency is None:
            found = self._answers("coc = ? AND ref > ?", (coc, after), now, limit)
        else:  # by the (coc, agency_ref, ref) index: an OR of both filters walked the CoC
            found = self._answers(
                "coc = ? AND agency_ref = ? AND ref > ?", (coc, agency, after), now, limit
            )
        return [(ref, orjson.Fragment(text)) for ref, text in found]

    def user_refs(self, coc: str, *, after: str = "", limit: int = ALL) -> list[str]:
        """The users of a CoC the read models know, current or departed, in order of ref
        (``limit`` after ``after``)."""
        t = self._tables()
        found = self.db.fetchall(
            f"SELECT ref FROM {t['entities']} WHERE coc = ? AND kind = 'user' AND ref > ? "
            "ORDER BY ref LIMIT ?",
            (coc, after, limit),
        )
        return [ref for (ref,) in found]

    # --- agencies and regions ------------------------------------------------------------

    def agency(self, coc: str, ref: str, now: datetime) -> dict[str, Any]:
        t = self._tables()
        found = self.db.fetchall(
            f"SELECT summary FROM {t['agencies']} WHERE coc = ? AND ref = ?", (coc, ref)
        )
        if not found:
            raise NotFound(f"agency {ref!r} does not exist in {coc}")
        summary: dict[str, Any] = orjson.loads(found[0][0])
        counts = dict(  # as projected, kept by the projection's triggers (db.py)
            self.db.fetchall(
                f"SELECT overall, users FROM {t['user_counts']} WHERE coc = ? AND agency_ref = ?",
                (coc, ref),
            )
        )
        for user_ref, projected in self.db.fetchall(  # changed by themselves: evaluate now
            f"SELECT ref, overall FROM {t['users']} WHERE coc = ? AND agency_ref = ? "
            "AND valid_until <= ?",
            (coc, ref, rows.iso(now)),
        ):
            counts[projected] -= 1
            overall = str(self._evaluate(coc, user_ref, now).overall)
            counts[overall] = counts.get(overall, 0) + 1
        counts = {overall: count for overall, count in counts.items() if count}
        summary["users"] = dict(sorted(counts.items()))
        return summary

    def agencies(self, coc: str, *, after: str = "", limit: int = 1000) -> list[dict[str, Any]]:
        """The agencies of a CoC in order of ref (``limit`` after ``after``), each as its
        summary without user counts."""
        t = self._tables()
        found = self.db.fetchall(
            f"SELECT summary FROM {t['agencies']} WHERE coc = ? AND ref > ? ORDER BY ref LIMIT ?",
            (coc, after, limit),
        )
        return [orjson.loads(summary) for (summary,) in found]

    def region(
        self, coc: str, region: str, *, after: str = "", limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Agencies with a fully executed CE MOU for ``region``: eligible for case
        conferencing there (in order of agency ref, ``limit`` after ``after``)."""
        t = self._tables()
        found = self.db.fetchall(
            f"SELECT agency_ref, agreement_ref, revision, executed_at FROM {t['regions']} "
            "WHERE coc = ? AND region = ? AND agency_ref > ? ORDER BY agency_ref LIMIT ?",
            (coc, region, after, limit),
        )
        return [
            {"agency_ref": a, "agreement_ref": g, "revision": r, "executed_at": e}
            for a, g, r, e in found
        ]

    # --- calendar ------------------------------------------------------------------------

    def calendar(
        self,
        coc: str,
        now: datetime,
        days: int = 30,
        *,
        after: tuple[str, str, str, str, str] | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Deadlines already passed (``breached``), then what expires or falls due in the
        next ``days`` days, in order of (on_date, subject kind, subject ref, clause, what);
        ``limit`` entries after the one whose order key is ``after``."""
        t = self._tables()
        today, until = now.date().isoformat(), (now.date() + timedelta(days=days)).isoformat()
        columns = "on_date, subject_kind, subject_ref, clause, what, agency_ref, state"
        found = self.db.fetchall(
            f"SELECT {columns} FROM {t['calendar']} WHERE coc = ? "
            "AND ((what = 'due' AND on_date < ?) OR (on_date >= ? AND on_date <= ?)) "
            "AND (on_date, subject_kind, subject_ref, clause, what) > (?, ?, ?, ?, ?) "
            "ORDER BY on_date, subject_kind, subject_ref, clause, what LIMIT ?",
            (coc, today, today, until, *(after or ("",) * 5), limit),
        )
        names = columns.split(", ")
        return [
            dict(zip(names, row, strict=True)) | {"breached": row[0] < today and row[4] == "due"}
            for row in found
        ]

    # --- audit trail ---------------------------------------------------------------------

    def audit_trail(
        self,
        coc: str,
        kind: str,
        ref: str,
        known_at: datetime | None = None,
        *,
        after: int = 0,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """The events of one entity in order of version with both clocks, who recorded them,
        and the corrections linked both ways (optionally only what was recorded by
        ``known_at``); ``limit`` events after version ``after``."""
        t = self._tables()
        entity = (
            f"a.entity_id = (SELECT id FROM {t['entities']} WHERE coc = ? AND kind = ? AND ref = ?)"
        )
        key = (coc, kind, ref)
        columns = "a.version, a.position, a.type, a.corrects_version"
        log = self.db.log_join("a")
        with_event = f"{columns}, a.entity_id, log.topic, log.state FROM {t['audit']} a {log}"
        fields: dict[int, dict[str, Any]] = {}  # by version: each line's event, decoded once
        # every line of the entity, to link corrections both ways; as known at a moment,
        # each with its event (the log's row), to keep those recorded by then
        if known_at is None:
            links = self.db.fetchall(
                f"SELECT {columns} FROM {t['audit']} a WHERE {entity} ORDER BY a.version", key
            )
        else:
            moment = rows.iso(known_at) or ""
            every = self.db.fetchall(f"SELECT {with_event} WHERE {entity} ORDER BY a.version", key)
            for version, _, _, _, entity_hex, topic, stored in every:
                fields[version] = self._audit_fields(entity_hex, topic, stored, version)
            links = [line for line in every if fields[line[0]]["recorded_at"] <= moment]
        if not links:
            raise NotFound(f"no {kind} {ref!r} in {coc}")
        position_of = {v: p for v, p, *_ in links}
        corrected_by: dict[int, list[dict[str, Any]]] = {}
        for v, p, typ, corrects, *_ in links:
            if corrects is not None and corrects in position_of:
                corrected_by.setdefault(corrects, []).append(
                    {"version": v, "position": p, "type": typ}
                )
        if known_at is None:
            found = self.db.fetchall(
                f"SELECT {with_event} WHERE {entity} AND a.version > ? ORDER BY a.version LIMIT ?",
                (*key, after, limit),
            )
        else:
            found = [line for line in links if line[0] > after][:limit]
        return [
            {
                "position": p,
                "version": v,
                "type": typ,
                **(fields.get(v) or self._audit_fields(entity_hex, topic, stored, v)),
                "payload": orjson.loads(stored),  # as stored
                "corrects": {"version": corrects, "position": position_of[corrects]}
                if corrects is not None and corrects in position_of
                else None,
                "corrected_by": corrected_by.get(v, []),
            }
            for v, p, typ, corrects, entity_hex, topic, stored in found
        ]

    def _audit_fields(
        self, entity_hex: str, topic: str, stored: bytes, version: int
    ) -> dict[str, Any]:
        """What the audit trail says of an event (``rows.audit_fields``), decoded by the
        ledger's mapper (older stored shapes upcast), as when its line held them."""
        return rows.audit_fields(
            line_event(self.ledger.event_mapper, entity_hex, version, topic, stored)
        )

    # --- lag -----------------------------------------------------------------------------

    def lag(self) -> dict[str, Any]:
        """Where the current generation is against the log's head, and ``pending``: the
        users, agencies and intakes it has queued to evaluate or derive again. Lag counts
        events not applied; an applied event's evaluation waits in that queue, so a queue
        that does not drain (evaluations that keep failing) shows there, not in the lag."""
        number = generations.current(self.db)
        head = self.ledger.head()
        position = self.db.position(number) if number is not None else 0
        return {
            "generation": number,
            "position": position,
            "head": head,
            "lag": head - position,
            "pending": self.db.queued(number) if number is not None else 0,
        }
