"""Pydantic models of the integrity routes' parameters and answers (the documents of
ledger/integrity/documents.py, which scripts/verify.py reads), for the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.models import Answer
from api.params import CocPath, QueryModel

TreeSize = Annotated[str, StringConstraints(pattern=r"^(latest|[1-9][0-9]{0,17})$")]
Base64 = Annotated[str, Field(description="base64")]


class Document(Answer):
    """Base of the documents: exactly these fields (a renamed one fails the tests)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", json_schema_serialization_defaults_required=True
    )


# --- parameters --------------------------------------------------------------------------


class CheckpointPath(BaseModel):
    tree_size: TreeSize = Field(description="the checkpoint's tree size, or `latest`")


class ConsistencyQuery(QueryModel):
    first: TreeSize = Field(description="tree size of the older checkpoint (or `latest`)")
    second: TreeSize | None = Field(
        default=None, description="tree size of the newer checkpoint (default: the latest)"
    )


class EventPath(CocPath):
    position: int = Field(ge=1, le=2**63 - 1, description="the event's log position")


class InclusionQuery(QueryModel):
    tree_size: TreeSize | None = Field(
        default=None, description="the checkpoint to prove against (default: the latest)"
    )


class ExportPath(CocPath):
    kind: Literal["coc", "agency", "user"] = Field(description="whose history")
    ref: Annotated[str, StringConstraints(pattern=r"^(-|[A-Za-z0-9][A-Za-z0-9._-]{0,199})$")] = (
        Field(description="the agency's or user's ref; `-` for the CoC itself")
    )


# --- answers -----------------------------------------------------------------------------


class CheckpointSummary(Document):
    tree_size: int = Field(description="leaves in the tree")
    last_position: int = Field(description="log position of the last leaf")
    root_hash: Base64
    signed_at: str = Field(description="UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ")
    key_id: str


class CheckpointView(CheckpointSummary):
    origin: str = Field(description="the log's name")
    note: str = Field(description="the signed text; the fields above repeat it")
    signature: Base64 = Field(description="Ed25519 signature of the note")


class KeyView(Document):
    key_id: str = Field(description="first 16 hex digits of SHA-256 of the public key")
    algorithm: Literal["ed25519"]
    public_key: Base64 = Field(description="the raw 32-byte Ed25519 public key")
    position: int = Field(description="log position of the event that put it in force")
    recorded_at: str
    previous_key_id: str | None


class CheckpointWithKey(CheckpointView):
    key: KeyView


class KeyList(Document):
    keys: list[KeyView]


class MismatchView(Document):
    position: int | None
    leaf_index: int | None
    reason: str
    text: str = Field(description="position, leaf and reason in one line")


class SelfCheckView(Document):
    ok: bool
    checked_at: str | None
    tree_size: int
    events_checked: int
    unsealed_events: int
    checkpoints_checked: int
    latest_checkpoint: int | None
    first_mismatch: MismatchView | None
    notes: list[str]
    seconds: float


class IntegrityStatus(Document):
    tree_size: int = Field(description="events sealed into the tree")
    sealed_position: int = Field(description="the last log position the sealer covered")
    head: int = Field(description="the log's last position")
    unsealed_positions: int
    latest_checkpoint: CheckpointSummary | None
    key_in_force: str | None = Field(description="the id of the newest signing key")
    signing_key_held: bool = Field(description="this process holds the key in force")
    last_selfcheck: SelfCheckView | None = Field(description="this process's last self-check")


class StoredEventView(Document):
    """One stored event, byte for byte: ``state`` as text when UTF-8, else ``state_base64``."""

    position: int
    leaf_index: int
    originator_id: str
    originator_version: int
    topic: str
    state: str | None
    state_base64: Base64 | None


class ProvenEvent(StoredEventView):
    proof: list[Base64] = Field(description="the RFC 9162 audit path, leaf to root")


class InclusionDocument(Document):
    format: Literal["coc-ledger-inclusion v1"]
    checkpoint: CheckpointView
    keys: list[KeyView]
    event: ProvenEvent


class ConsistencyDocument(Document):
    format: Literal["coc-ledger-consistency v1"]
    first: CheckpointView
    second: CheckpointView
    keys: list[KeyView]
    proof: list[Base64] = Field(description="the RFC 9162 consistency proof")


class BundleSubject(Document):
    kind: Literal["coc", "agency", "user"]
    coc: str
    ref: str


class BundledEvent(StoredEventView):
    proof: list[int] = Field(description="indexes into `hashes`: the audit path, leaf to root")


class Bundle(Document):
    format: Literal["coc-ledger-bundle v1"]
    subject: BundleSubject
    statement: str = Field(description="the signed export statement (lists every position)")
    statement_signature: Base64
    checkpoint: CheckpointView
    keys: list[KeyView]
    leaf_encoding: str
    events_after_checkpoint: int
    hashes: list[Base64]
    events: list[BundledEvent]
