"""/api/v1/ml/models: the model registry (viewer reads; engineer promotes and rolls back), per tenant.

Artifacts are never uploaded or downloaded here: they are produced by the platform itself (the live monitor,
training jobs) and read back by it, so the API cannot be used to plant a model. Other tenants' models are 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from tvilling.api.deps import require, services
from tvilling.api.errors import errors
from tvilling.api.responses import Json
from tvilling.app.auth import Principal
from tvilling.app.registry import registry_for
from tvilling.core.roles import Role

router = APIRouter(prefix="/api/v1/ml/models", tags=["ml models"])
Name = Annotated[str, Path(pattern=r"^[^\x00-\x1f\x7f/\\?#]{1,600}$", description="Registered model name")]
Version = Annotated[int, Path(ge=1, le=2_147_483_647)]


@router.get("", response_model=None, responses=errors(), summary="Registered models: versions, latest, production")
def list_ml_models(request: Request, principal: Annotated[Principal, Depends(require(Role.VIEWER))]) -> Response:
    return Json({"value": registry_for(services(request)).list_models(principal.tenant)})


@router.get("/{name}", response_model=None, responses=errors(404),
            summary="One registered model: its production version and every version's metadata")
def get_ml_model(request: Request, name: Name,
                 principal: Annotated[Principal, Depends(require(Role.VIEWER))]) -> Response:
    versions = registry_for(services(request)).versions(principal.tenant, name)
    production = next((v.as_dict() for v in versions if v.stage == "production"), None)
    return Json({"name": name, "kind": versions[-1].kind, "latest_version": versions[-1].version,
                 "production": production, "versions": len(versions)})


@router.get("/{name}/versions", response_model=None, responses=errors(404),
            summary="Every version of a model, oldest first (metrics, training range, parameters, lineage)")
def list_ml_model_versions(request: Request, name: Name,
                           principal: Annotated[Principal, Depends(require(Role.VIEWER))]) -> Response:
    versions = registry_for(services(request)).versions(principal.tenant, name)
    return Json({"value": [v.as_dict() for v in versions]})


@router.get("/{name}/versions/{version}", response_model=None, responses=errors(404),
            summary="One version's metadata")
def get_ml_model_version(request: Request, name: Name, version: Version,
                         principal: Annotated[Principal, Depends(require(Role.VIEWER))]) -> Response:
    return Json(registry_for(services(request)).get(principal.tenant, name, version).as_dict())


@router.post("/{name}/versions/{version}/promote", response_model=None, responses=errors(404, 409),
             summary="Make a version the production one (the previous production version is archived)")
def promote_ml_model(request: Request, name: Name, version: Version,
                     principal: Annotated[Principal, Depends(require(Role.ENGINEER))]) -> Response:
    promoted = registry_for(services(request)).promote(principal.tenant, name, version, principal.context())
    return Json(promoted.as_dict())


@router.post("/{name}/rollback", response_model=None, responses=errors(404, 409),
             summary="Re-promote the version the current production version replaced")
def rollback_ml_model(request: Request, name: Name,
                      principal: Annotated[Principal, Depends(require(Role.ENGINEER))]) -> Response:
    restored = registry_for(services(request)).rollback(principal.tenant, name, principal.context())
    return Json(restored.as_dict())
