"""The sealer: extends the tree with every event committed since it last looked, in log order,
and signs checkpoints of it.

It follows the log by pulling, as the read models do. Positions become visible in commit order
(SQLite has one writer; eventsourcing's PostgreSQL recorder locks the events table for each
insert until it commits), so once a position is visible nothing below it is still to come,
and gaps left by rolled-back inserts stay gaps: the leaves are the events in log order, and
each records its position beside its leaf index. Each batch of leaves, the nodes they
complete and the sealer's position (eventsourcing's tracking record) commit in one
transaction; two sealers racing (the service and ``scripts/seal``) collide on it, and the
loser reloads and carries on from the winner's tree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from eventsourcing.persistence import IntegrityError

from ledger.application import Ledger
from ledger.integrity import checkpoints
from ledger.integrity.checkpoints import Checkpoint
from ledger.integrity.keyring import in_force, recorded_keys
from ledger.integrity.keys import SigningKey
from ledger.integrity.leaves import leaf_hash
from ledger.integrity.store import IntegrityStore
from ledger.integrity.tree import STRIDE, Frontier, decompose, range_hashes

log = structlog.get_logger("integrity")
BATCH = 2000
MAX_RACES = 5


class SealerStuck(RuntimeError):
    """The sealer's writes keep colliding: its tables disagree with its tracking record."""


@dataclass(frozen=True)
class TreeState:
    """The sealed tree: its right edge and the position of its last leaf."""

    frontier: Frontier
    last_position: int

    @property
    def size(self) -> int:
        return self.frontier.size


def load_state(store: IntegrityStore) -> TreeState:
    """The sealed tree as stored (its frontier read from the stored nodes)."""
    size = store.tree_size()
    if size == 0:
        return TreeState(Frontier(), 0)
    keys = decompose(0, size)
    hashes = range_hashes([(i << lvl, (i + 1) << lvl) for lvl, i in keys], store.fetch)
    (last,) = store.leaves(size - 1, 1)
    return TreeState(Frontier(size, hashes), last[1])


class Sealer:
    """Seals the log into the tree and signs checkpoints; one per process is enough."""

    def __init__(self, ledger: Ledger, store: IntegrityStore, origin: str) -> None:
        self.ledger = ledger
        self.store = store
        self.origin = origin
        self._state: TreeState | None = None
        self._unsigned: str | None = None  # why the last checkpoint was not signed (logged once)

    @property
    def state(self) -> TreeState:
        if self._state is None:
            self._state = load_state(self.store)
        return self._state

    def step(self, batch: int = BATCH) -> int:
        """Seal the next batch of committed events; returns how many it sealed."""
        state = self.state
        rows = self.store.rows_after(state.last_position if state.size else None, batch)
        if not rows:
            return 0
        frontier = state.frontier.copy()
        leaves: list[tuple[int, bytes]] = []
        nodes: list[tuple[int, int, bytes]] = []
        for row in rows:
            digest = leaf_hash(row)
            leaves.append((row.position, digest))
            nodes.extend(n for n in frontier.append(digest) if n[0] % STRIDE == 0)
        try:
            with self.store.transaction() as cursor:
                self.store.append(cursor, state.size, leaves, nodes, rows[-1].position)
        except IntegrityError:
            self._state = None  # another sealer got there first: carry on from its tree
            log.info("integrity.sealer_raced", tree_size=state.size)
            return 0
        self._state = TreeState(frontier, rows[-1].position)
        return len(rows)

    def catch_up(self, batch: int = BATCH) -> int:
        """Seal everything committed now. Losing a race to another sealer is normal (it
        sealed the same events); colliding while nobody makes progress is not."""
        sealed, races = 0, 0
        while True:
            before = self.state.size
            count = self.step(batch)
            sealed += count
            if count == 0 and self._state is None:  # raced: reload and look again
                races = 0 if self.state.size > before else races + 1
                if races >= MAX_RACES:
                    raise SealerStuck(
                        f"{races} writes in a row collided while the tree stayed at {before} "
                        "leaves; run scripts/selfcheck to see why"
                    )
                continue
            if count < batch:
                return sealed

    def reload(self) -> None:
        self._state = None

    def checkpoint(
        self,
        key: SigningKey | Callable[[], SigningKey | None] | None,
        now: datetime,
        every: timedelta = timedelta(0),
    ) -> Checkpoint | None:
        """Sign a checkpoint of the sealed tree if it grew since the latest one and that one
        is at least ``every`` old. Only the key in force for the tree may sign it: without a
        key file, or with another key than the ledger records for this tree, nothing is
        signed (logged by key ids only, once until the reason changes). ``key`` may be a
        function that reads the key file, called only when a checkpoint is due. Returns the
        checkpoint signed, if any."""
        state = self.state
        latest = checkpoints.latest(self.store)
        if state.size == 0 or (latest is not None and latest.tree_size >= state.size):
            return None
        if latest is not None and now - latest.signed_at < every:
            return None
        if callable(key):
            key = key()
        if key is None:
            self._not_signed("integrity.no_signing_key")
            return None
        expected = in_force(recorded_keys(self.ledger), state.last_position)
        if expected is None or expected.key_id != key.key_id:
            in_force_id = expected.key_id if expected else None
            self._not_signed(
                "integrity.key_not_in_force", key_file=key.key_id, in_force=in_force_id
            )
            return None
        self._unsigned = None
        signed = Checkpoint.sign(
            key, self.origin, state.size, state.last_position, state.frontier.root(), now
        )
        checkpoints.save(self.store, signed)
        log.info("integrity.checkpoint", tree_size=signed.tree_size, key_id=signed.key_id)
        return signed

    def _not_signed(self, why: str, **about: object) -> None:
        """Log why no checkpoint is signed, once until the reason changes."""
        reason = f"{why} {sorted(about.items())}"
        if reason != self._unsigned:
            log.warning(why, **about)
            self._unsigned = reason
