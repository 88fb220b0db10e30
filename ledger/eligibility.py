"""The seam through which a versioned policy decides who may hold credentials or a role.

Commands ask an :class:`EligibilityPolicy` before issuing credentials; the policy engine
(which lives with the projections) implements it and the composition root passes it in.
Until a CoC adopts a policy, :class:`NoPolicyAdopted` finds nothing missing, so only the
hard rules of the seed processes apply.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ledger.domain.end_users import EndUser


class EligibilityPolicy(Protocol):
    def missing_for(self, user: EndUser, hmis_role: str, as_of: datetime) -> list[str]:
        """Clause ids the user does not satisfy for ``hmis_role`` at ``as_of`` (empty: eligible)."""
        ...


class NoPolicyAdopted:
    def missing_for(self, user: EndUser, hmis_role: str, as_of: datetime) -> list[str]:
        return []
