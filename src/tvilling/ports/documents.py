"""Twin and relationship JSON in the Azure Digital Twins shape, rendered from store records.

Storage layout (shared with the query executor, which renders rows the same way):
- ``twins.meta`` holds ``$metadata`` without ``$model``: ``{"$lastUpdateTime", "<prop>": {"lastUpdateTime", …}}``;
- ``twins.contents`` holds properties and components; each component keeps its own ``"$metadata"`` object, as
  in ADT, so the document is ``{"$dtId", "$etag", "$metadata": {"$model", **meta}, **contents}`` with no
  per-read reshaping.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tvilling.ports.store import RelationshipRecord, TwinRecord


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def twin_document(twin: TwinRecord) -> dict[str, Any]:
    return {"$dtId": twin.id, "$etag": twin.etag, "$metadata": {"$model": twin.model_id, **twin.meta},
            **twin.contents}


def relationship_document(rel: RelationshipRecord) -> dict[str, Any]:
    return {"$relationshipId": rel.id, "$etag": rel.etag, "$sourceId": rel.source_id,
            "$relationshipName": rel.name, "$targetId": rel.target_id, **rel.properties}


def incoming_document(rel: RelationshipRecord) -> dict[str, Any]:
    return {"$relationshipId": rel.id, "$sourceId": rel.source_id, "$relationshipName": rel.name,
            "$relationshipLink": f"/api/v1/twins/{rel.source_id}/relationships/{rel.id}"}
