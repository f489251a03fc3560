"""Request bodies: size cap (413) and strict JSON parsing.

Bodies are parsed here rather than by FastAPI so that NaN/Infinity literals, pathological nesting (which would
raise RecursionError deep in ``json``) and invalid text become clear 4xx problems instead of 500s (reliability
B-05/B-06). Routes document their body schema with ``openapi_extra``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import Request
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tvilling.api.deps import clean_json
from tvilling.core.errors import ValidationError


class BodyLimit:
    """Pure ASGI middleware: refuse bodies over ``max_bytes`` with 413, without buffering them. Routes that take
    data files (``upload_paths``: a path matching one of these regular expressions) have ``max_upload_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_upload_bytes: int | None = None,
                 upload_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes or max_bytes
        self.upload_paths = [re.compile(p) for p in upload_paths]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = any(p.fullmatch(scope.get("path", "")) for p in self.upload_paths)
        limit = self.max_upload_bytes if upload else self.max_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await _reject(send, limit, "TVILLING_MAX_UPLOAD_BYTES" if upload else "TVILLING_MAX_BODY_BYTES")
                    return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, f"request body larger than {limit} bytes")
            return message

        await self.app(scope, limited, send)


async def _reject(send: Send, limit: int, setting: str) -> None:
    body = json.dumps({"type": "urn:tvilling:problem:too-large", "title": "Request body too large", "status": 413,
                       "detail": f"request body larger than {limit} bytes", "problems": [],
                       "hint": f"split the request or raise {setting}"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/problem+json"), (b"connection", b"close"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise ValidationError("the request body is empty", where="body", hint="send a JSON document")
    try:
        value = json.loads(raw, parse_constant=_no_constants)
    except RecursionError as exc:
        raise ValidationError("the JSON is nested too deeply", where="body", hint="flatten the document") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(f"the body is not valid JSON: {exc}", where="body",
                              hint="send UTF-8 JSON with Content-Type: application/json") from exc
    return clean_json(value)


def json_body(schema: dict[str, Any], *, media_types: tuple[str, ...] = ("application/json",)) -> dict[str, Any]:
    """``openapi_extra`` documenting a required JSON body."""
    return {"requestBody": {"required": True, "content": {m: {"schema": schema} for m in media_types}}}


JSON_PATCH_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["op", "path"],
        "properties": {
            "op": {"type": "string", "enum": ["add", "remove", "replace", "move", "copy", "test"]},
            "path": {"type": "string"},
            "from": {"type": "string"},
            "value": {},
        },
    },
}
