"""Python SDK for the Tvilling REST API (used by the CLI and by notebooks).

    >>> from tvilling.sdk import Client
    >>> # with Client("http://127.0.0.1:8000", token="tvl_…") as tv:
    >>> #     tv.create_twin("room-1", {"$metadata": {"$model": "dtmi:ex:Room;1"}, "temperature": 21.0})

URL and token default to ``TVILLING_URL`` / ``TVILLING_TOKEN``. Errors are the platform's own exception types
(``NotFoundError``, ``ValidationError``, ``PreconditionFailedError``, …) rebuilt from the problem+json response.
"""

from tvilling.sdk.client import AsyncClient, Client

__all__ = ["AsyncClient", "Client"]
