"""Causality context carried by every event and command (after Home Assistant's ``Context``).

The chain reading -> insight -> decision -> command -> result is linked through ``parent_id``; the audit log
is a query over these links.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


def new_id() -> str:
    """A random, URL-safe identifier (UUID4 hex)."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Context:
    id: str
    parent_id: str | None = None
    actor: str = "system"

    @classmethod
    def new(cls, actor: str = "system", parent: Context | None = None) -> Context:
        return cls(id=new_id(), parent_id=parent.id if parent else None, actor=actor)

    def child(self, actor: str | None = None) -> Context:
        """A new context caused by this one."""
        return Context(id=new_id(), parent_id=self.id, actor=actor or self.actor)

    def as_dict(self) -> dict[str, str | None]:
        return {"id": self.id, "parent_id": self.parent_id, "actor": self.actor}
