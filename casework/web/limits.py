"""A cap on request bodies, enforced while they arrive instead of after they are stored.

Starlette spools an uploaded file to disk before the application sees it, so the size
checks of the submission form alone would let anyone fill the disk with one request. This
plain ASGI middleware refuses a body larger than `limit` bytes: at once when the
Content-Length says so, otherwise as soon as the bytes received pass the limit. The limit
is set well above the largest legitimate submission (every attachment at its maximum),
so a person never loses a form they could have sent.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOO_LARGE_SV = "Det du skickade är för stort."


class _BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, send)
            return
        received = 0
        overflowed = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, overflowed
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    overflowed = True
                    raise _BodyTooLarge
            return message

        async def checked_send(message: Message) -> None:
            # The application may turn the interrupted body into an error of its own (a
            # 400 for a body it could not parse): the client is told the real reason.
            nonlocal started
            if overflowed:
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._refuse(scope, send)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, checked_send)
        except _BodyTooLarge:
            if not started:
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        limit_mb = self.limit / (1024 * 1024)
        if scope["path"].startswith("/api/"):
            body = json.dumps(
                {"detail": f"request body larger than {limit_mb:.0f} MB"}, ensure_ascii=False
            ).encode()
            content_type = b"application/json"
        else:
            body = (
                '<!doctype html><html lang="sv"><meta charset="utf-8">'
                f"<title>För stort</title><h1>{TOO_LARGE_SV}</h1>"
                f"<p>En anmälan med alla bilagor får vara högst {limit_mb:.0f} MB. "
                "Gå tillbaka, ta bort eller förminska någon bilaga och skicka igen.</p>"
            ).encode()
            content_type = b"text/html; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
