"""Stores pydantic events as orjson bytes with a schema version, and upcasts old versions.

The library's ``class_version`` upcasting only works in its default mapper, so this mapper
does its own: an event class with ``schema_version = N`` (N > 1) defines static methods
``upcast_v1_v2(state)``, ..., ``upcast_v{N-1}_v{N}(state)`` that rewrite a stored state dict
in place, and old bytes are brought up to date on every read.
"""

from __future__ import annotations

from typing import Any, cast
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic
from pydantic import BaseModel, ValidationError

VERSION_KEY = "schema_version"


class OrjsonTranscoder(Transcoder):
    """JSON bytes through orjson (pydantic has already made the state JSON-safe)."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


class PydanticMapper(Mapper[UUID]):
    """Converts pydantic domain events to stored events and back, upcasting on the way in."""

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        event = cast(BaseModel, domain_event)
        state = event.model_dump(mode="json")
        state[VERSION_KEY] = getattr(type(event), "schema_version", 1)
        data = self.transcoder.encode(state)
        if self.compressor:
            data = self.compressor.compress(data)
        if self.cipher:
            data = self.cipher.encrypt(data)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(type(event)),
            state=data,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        cls, state = self.to_state(stored_event)
        try:
            # the type as text: subscripting it at run time went through typing's cache for
            # every event decoded (1.3% of a rebuild worker's time)
            return cast("DomainEventProtocol[UUID]", cls.model_validate(state))
        except ValidationError as err:
            raise _undecodable(stored_event, err) from err

    def to_state(self, stored_event: StoredEvent) -> tuple[type[BaseModel], dict[str, Any]]:
        """The event's class and its fields as stored, upcast to the class's current schema,
        without building the event (for readers that need a few fields, not the object)."""
        data = stored_event.state
        if self.cipher:
            data = self.cipher.decrypt(data)
        if self.compressor:
            data = self.compressor.decompress(data)
        cls: type[BaseModel] = resolve_topic(stored_event.topic)
        try:
            state: dict[str, Any] = self.transcoder.decode(data)
            upcast(cls, state)
        except (ValueError, orjson.JSONDecodeError) as err:
            raise _undecodable(stored_event, err) from err
        return cls, state


def _undecodable(stored_event: StoredEvent, err: Exception) -> MapperDeserialisationError:
    return MapperDeserialisationError(
        f"cannot decode stored event {stored_event.topic} "
        f"{stored_event.originator_id} v{stored_event.originator_version}: {err}"
    )


def upcast(cls: type[BaseModel], state: dict[str, Any]) -> None:
    """Rewrite ``state`` in place from its stored schema version to the class's current one."""
    target = getattr(cls, "schema_version", 1)
    version = state.pop(VERSION_KEY, 1)
    if version > target:
        raise ValueError(f"stored schema version {version} is newer than {cls.__name__} v{target}")
    while version < target:
        step = getattr(cls, f"upcast_v{version}_v{version + 1}", None)
        if step is None:
            raise ValueError(f"{cls.__name__} has no upcaster from v{version} to v{version + 1}")
        step(state)
        version += 1
