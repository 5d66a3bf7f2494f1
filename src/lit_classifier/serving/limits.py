"""``RequestLimits``: what the HTTP process refuses before a request reaches the network's queue.

A body over ``max_body_bytes`` (413), a content type other than a multipart form or JSON (415), and
a body that does not parse as one (400) are answered here, in one JSON line naming the problem.
LitServe parses the body itself before queueing it, and answers a parse failure with a bare 500
("Internal server error"); checking first is what gives those requests a 4xx that says why. The
body is read once, bounded by the limit whether or not the client sent a ``Content-Length``, and
handed on as it came. An ASGI middleware: both ``lit-classifier serve`` and the benchmark's plain
FastAPI endpoint put it in front of their route.
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FORM = "multipart/form-data"
JSON = "application/json"


class RequestLimits:
    """Checks the POSTs to ``path``; other requests (``/health``, ``/info``) pass untouched."""

    def __init__(self, app: ASGIApp, *, path: str, max_body_bytes: int) -> None:
        self.app = app
        self.path = path
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in (FORM, JSON):
            given = f"Content-Type {kind}" if kind else "no Content-Type"
            await refuse(scope, receive, send, 415, f"the body must be a {FORM} form or {JSON}, not {given}")
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await refuse(scope, receive, send, 413, self.too_large(int(declared)))
            return
        body = await self.read_body(receive)
        if body is None:
            await refuse(scope, receive, send, 413, self.too_large())
            return
        problem = await parse_problem(headers, body) if kind == FORM else json_problem(body)
        if problem is not None:
            await refuse(scope, receive, send, 400, problem)
            return
        await self.app(scope, replay(body, receive), send)

    async def read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or ``None`` as soon as it passes the limit."""
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    def too_large(self, size: int | None = None) -> str:
        limit = self.max_body_bytes / 2**20
        said = f"{size / 2**20:.1f} MiB, " if size is not None else ""
        return f"the body is {said}over the limit of {limit:g} MiB (lit-classifier serve --max_body_mb)"


def json_problem(body: bytes) -> str | None:
    try:
        json.loads(body)
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        return f"the body is not JSON: {error}"
    return None


async def parse_problem(headers: Headers, body: bytes) -> str | None:
    async def stream():  # type: ignore[no-untyped-def]
        yield body

    try:
        form = await MultiPartParser(headers, stream()).parse()
    except MultiPartException as error:
        return f"the body is not a {FORM} form: {error.message}"
    await form.close()
    return None


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body read already, then waits on the client (a disconnect)."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


async def refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)
