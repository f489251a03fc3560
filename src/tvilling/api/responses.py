"""Fast JSON responses: documents are returned as built (no second validation pass), serialised by orjson.

Values are finite by construction: request bodies with NaN/Infinity are refused at the door (api/body.py), so the
stores never hold them (orjson would write ``null`` for one, where ``json`` raised).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

JSON_OPTIONS = orjson.OPT_NON_STR_KEYS  # as json.dumps: integer keys become strings instead of failing


class Json(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=JSON_OPTIONS)


def page(items: list[Any], continuation: str | None) -> Json:
    return Json({"value": items, "continuationToken": continuation})


def with_etag(doc: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Json:
    return Json(doc, status_code=status, headers={"ETag": str(doc.get("$etag", "")), **(headers or {})})
