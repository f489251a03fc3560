"""Fast JSON responses: documents are returned as built (no second validation pass), strictly finite."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response


class Json(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def page(items: list[Any], continuation: str | None) -> Json:
    return Json({"value": items, "continuationToken": continuation})


def with_etag(doc: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Json:
    return Json(doc, status_code=status, headers={"ETag": str(doc.get("$etag", "")), **(headers or {})})
