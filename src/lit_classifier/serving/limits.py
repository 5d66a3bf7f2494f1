"""``RequestLimits``: what the HTTP process refuses before a request reaches the network's queue.

A body over ``max_body_bytes`` (413), a content type other than a multipart form or JSON (415), and
a body that does not parse as one, or JSON nested deeper than ``MAX_JSON_DEPTH`` (400), are answered
here, in one JSON line naming the problem.
LitServe parses the body itself before queueing it, and answers a parse failure with a bare 500
("Internal server error"); checking first is what gives those requests a 4xx that says why. The
body is read once, bounded by the limit whether or not the client sent a ``Content-Length``, and
handed on as it came. An ASGI middleware: both ``lit-classifier serve`` and the benchmark's plain
FastAPI endpoint put it in front of their route.
"""

from __future__ import annotations

import json
from itertools import chain, compress
from typing import Any

from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FORM = "multipart/form-data"
JSON = "application/json"
#: How deep a JSON body may nest: the API's is one object deep ({"image": "<base64>"}).
MAX_JSON_DEPTH = 32
CONTAINERS = frozenset({dict, list})  # what JSON nests: objects and arrays, as json.loads makes them
TOO_DEEP = f'the body is JSON nested more than {MAX_JSON_DEPTH} levels deep; post {{"image": "<base64>"}}'


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
            said = f"not Content-Type {kind}" if kind else "and the request has no Content-Type"
            await refuse(scope, receive, send, 415, f"the body must be a {FORM} form or {JSON}, {said}")
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
    """Why ``body`` is no JSON this server takes, or ``None``. Its JSON is one object deep; LitServe,
    parsing the body again deeper in the stack, fails on a few hundred levels (a 500), and Python's
    parser itself raises ``RecursionError`` (no ``ValueError``) near its recursion limit."""
    try:
        value = json.loads(body)
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        return f"the body is not JSON: {error}"
    except RecursionError:
        return TOO_DEEP
    return TOO_DEEP if deeper_than(value, MAX_JSON_DEPTH) else None


def deeper_than(value: Any, levels: int) -> bool:
    """Whether ``value`` nests arrays and objects more than ``levels`` deep, counted a level at a time
    (no recursion). Its scalars are skipped by filters that run in C: in a 10 MiB array of numbers
    that takes about 0.2 s, less than half of what parsing it took."""
    level = [value]
    for _ in range(levels + 1):
        containers = list(compress(level, map(CONTAINERS.__contains__, map(type, level))))
        if not containers:
            return False
        level = list(chain.from_iterable(c.values() if type(c) is dict else c for c in containers))
    return True


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
