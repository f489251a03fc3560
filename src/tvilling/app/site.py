"""Load a site package (DTDL models, twin graph, point mappings) into a tenant.

A site package is a folder: ``models/*.json`` (DTDL), ``twins.yaml`` (twins and relationships) and
``mappings.yaml`` (sensor points; read by ingestion, only located here). Loading is idempotent: models, twins and
relationships that already exist are left as they are, so ``tvilling demo`` can restart on the same database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tvilling.app.services import Services
from tvilling.core.context import Context
from tvilling.core.errors import NotFoundError, PreconditionFailedError, ValidationError


@dataclass(frozen=True)
class SitePackage:
    root: Path

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def twins_file(self) -> Path:
        return self.root / "twins.yaml"

    @property
    def mappings_file(self) -> Path:
        return self.root / "mappings.yaml"

    def check(self) -> None:
        missing = [p for p in (self.models_dir, self.twins_file, self.mappings_file) if not p.exists()]
        if missing:
            raise ValidationError(f"site package {self.root} is incomplete: {missing[0].name} is missing",
                                  where=str(missing[0]), hint="a site package has models/, twins.yaml, mappings.yaml")


@dataclass
class LoadReport:
    models: int = 0
    twins: int = 0
    relationships: int = 0


def _read_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValidationError(f"{path.name} must hold a mapping", where=str(path))
    return data


def load_site(services: Services, tenant: str, site: SitePackage, ctx: Context) -> LoadReport:
    site.check()
    report = LoadReport()
    documents: list[Any] = []
    for path in sorted(site.models_dir.glob("*.json")):
        loaded = json.loads(path.read_text(encoding="utf-8"))
        documents.extend(loaded if isinstance(loaded, list) else [loaded])
    known = services.models.model_set(tenant)
    fresh = [d for d in documents if d.get("@id") not in known]
    if fresh:
        report.models = len(services.models.upload(tenant, fresh, ctx))
    graph = _read_yaml(site.twins_file)
    for row in graph.get("twins", []):
        body = {"$metadata": {"$model": row["model"]}, **(row.get("properties") or {})}
        try:
            services.twins.put(tenant, row["id"], body, ctx, if_none_match="*")
            report.twins += 1
        except PreconditionFailedError:
            pass  # already there from an earlier start
    for row in graph.get("relationships", []):
        rel_id = f"{row['source']}-{row['name']}-{row['target']}"
        body = {"$targetId": row["target"], "$relationshipName": row["name"], **(row.get("properties") or {})}
        try:
            services.relationships.get(tenant, row["source"], rel_id)
        except NotFoundError:
            services.relationships.put(tenant, row["source"], rel_id, body, ctx)
            report.relationships += 1
    return report


def site_file(settings: Any, setting: str, name: str) -> Path | None:
    """A site package's optional document: the file the ``setting`` names, else ``name`` beside the site's
    ``mappings.yaml`` if there is one (``alarms.yaml``, ``monitoring.yaml``, ``maintenance.yaml``)."""
    explicit = getattr(settings, setting, None)
    if explicit:
        return Path(explicit)
    mappings = getattr(settings, "mappings_file", None)
    if not mappings:
        return None
    candidate = Path(mappings).parent / name
    return candidate if candidate.is_file() else None
