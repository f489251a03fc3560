"""Response schemas for the OpenAPI description (documents are open objects, as in ADT)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class TwinMetadata(Open):
    model: str = Field(alias="$model")
    lastUpdateTime: str = Field(alias="$lastUpdateTime")


class TwinDocument(Open):
    dtId: str = Field(alias="$dtId")
    etag: str = Field(alias="$etag")
    metadata: TwinMetadata = Field(alias="$metadata")


class RelationshipDocument(Open):
    relationshipId: str = Field(alias="$relationshipId")
    etag: str = Field(alias="$etag")
    sourceId: str = Field(alias="$sourceId")
    relationshipName: str = Field(alias="$relationshipName")
    targetId: str = Field(alias="$targetId")


class IncomingRelationship(BaseModel):
    relationshipId: str = Field(alias="$relationshipId")
    sourceId: str = Field(alias="$sourceId")
    relationshipName: str = Field(alias="$relationshipName")
    relationshipLink: str = Field(alias="$relationshipLink")


class ModelData(BaseModel):
    id: str
    displayName: Any = None
    description: Any = None
    uploadTime: str
    decommissioned: bool
    dependencies: list[str]
    model: dict[str, Any] | None = None


class TwinPage(BaseModel):
    value: list[TwinDocument]
    continuationToken: str | None = None


class RelationshipPage(BaseModel):
    value: list[RelationshipDocument]
    continuationToken: str | None = None


class IncomingPage(BaseModel):
    value: list[IncomingRelationship]
    continuationToken: str | None = None


class ModelPage(BaseModel):
    value: list[ModelData]
    continuationToken: str | None = None


class QueryRequest(BaseModel):
    query: str = Field(min_length=1, max_length=8000)
    continuationToken: str | None = None
    maxItemsPerPage: int | None = Field(default=None, ge=1)


class QueryResponse(BaseModel):
    value: list[dict[str, Any]]
    continuationToken: str | None = None


class Health(BaseModel):
    status: str
    database: str
    version: str
    schema_revision: str | None = None


class TokenCreate(BaseModel):
    role: str = Field(pattern="^(viewer|operator|engineer|admin)$")
    name: str = Field(default="", max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")


class TokenInfo(BaseModel):
    id: str
    tenant: str
    role: str
    name: str
    created_at: str
    revoked: bool


class IssuedTokenOut(BaseModel):
    token: str
    id: str
    tenant: str
    role: str
    name: str
