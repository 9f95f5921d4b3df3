"""Bounding the work one server takes on: request bodies, colorizations at once, time.

- :class:`BodySizeLimit` (ASGI middleware) refuses a body above the limit with 413: at once
  when ``Content-Length`` says so, otherwise as soon as the bytes read pass the limit
  (chunked uploads), before the rest is read.
- :class:`ColorizationSlots` runs colorizations on a pool of ``max_concurrent`` threads, so
  the event loop stays responsive. A request waits at most ``queue_timeout_s`` for a slot,
  and at most ``max_queue`` requests wait; beyond that :class:`ServiceBusyError` (503 with
  ``Retry-After``). A colorization that takes longer than ``request_timeout_s`` answers
  :class:`ColorizationTimeoutError` (504); its thread finishes in the background and only then
  frees its slot, so the number of colorizations running never exceeds the bound.
- :class:`ApiKeyCheck` and :class:`AdmissionCheck` (ASGI middleware, outside the body limit)
  answer 401 for a missing API key and 503 when the queue is full before a body is read.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import BodyTooLargeError, ColorizationTimeoutError, MasterpieceError, ServiceBusyError
from .schemas import status_for

T = TypeVar("T")


def _set_torch_threads(count: int) -> None:
    """PyTorch's threads, where a model runs in PyTorch (ONNX Runtime keeps its own pool)."""
    from .._optional import torch_loaded

    if torch_loaded():
        import torch

        torch.set_num_threads(count)


class ColorizationSlots:
    """At most ``max_concurrent`` colorizations at once, each on its own worker thread.

    Each worker thread uses ``cores / max_concurrent`` PyTorch threads (as the CLI's batch
    runner does), so concurrent requests share the cores instead of oversubscribing them.
    Create it anywhere; :meth:`open` (the application's start-up) makes what belongs to an
    event loop, so one application can be served by several loops one after the other (test
    clients, a restarted server). Without :meth:`open`, the first use calls it.
    """

    def __init__(
        self, max_concurrent: int, max_queue: int, queue_timeout_s: float, request_timeout_s: float
    ) -> None:
        self.max_concurrent = max_concurrent
        self.max_queue = max_queue
        self.queue_timeout_s = queue_timeout_s
        self.request_timeout_s = request_timeout_s
        self.running = 0
        self.waiting = 0
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None

    def open(self) -> None:
        """Bind to the running event loop: a new semaphore, no colorization counted."""
        self._loop = asyncio.get_running_loop()
        self._semaphore = asyncio.Semaphore(self.max_concurrent)
        self.running = 0
        self.waiting = 0

    def _slots(self) -> asyncio.Semaphore:
        if self._semaphore is None or self._loop is not asyncio.get_running_loop():
            self.open()
        assert self._semaphore is not None
        return self._semaphore

    @property
    def full(self) -> bool:
        """Every slot is busy and ``max_queue`` requests wait: a new one would get 503."""
        return (
            self._semaphore is not None
            and self._semaphore.locked()
            and self.waiting >= self.max_queue
        )

    def busy_error(self) -> ServiceBusyError:
        return ServiceBusyError(
            f"the server is busy: {self.max_concurrent} colorization(s) running and "
            f"{self.waiting} waiting; retry later"
        )

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            from ..models.onnx_backend import default_threads

            share = max(1, default_threads() // self.max_concurrent)
            self._executor = ThreadPoolExecutor(
                self.max_concurrent, "colorize", initializer=_set_torch_threads, initargs=(share,)
            )
        return self._executor

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """Run ``function(*args)`` on a worker thread once a slot is free; return its result.

        Raises:
            ServiceBusyError: no slot became free within ``queue_timeout_s``, or ``max_queue``
                requests are waiting already.
            ColorizationTimeoutError: the call took longer than ``request_timeout_s``.
        """
        semaphore = await self._acquire()
        try:
            future = asyncio.get_running_loop().run_in_executor(self._pool(), function, *args)
        except BaseException:
            semaphore.release()
            raise
        self.running += 1
        future.add_done_callback(functools.partial(self._release, semaphore))
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.request_timeout_s)
        except asyncio.TimeoutError:
            raise ColorizationTimeoutError(
                f"the colorization took longer than the limit of {self.request_timeout_s:g} s; "
                "send a smaller image"
            ) from None

    async def _acquire(self) -> asyncio.Semaphore:
        semaphore = self._slots()
        if self.full:
            raise self.busy_error()
        self.waiting += 1
        try:
            await asyncio.wait_for(semaphore.acquire(), self.queue_timeout_s)
        except asyncio.TimeoutError:
            raise ServiceBusyError(
                f"the server is busy: no colorization slot became free within "
                f"{self.queue_timeout_s:g} s; retry later"
            ) from None
        finally:
            self.waiting -= 1
        return semaphore

    def _release(self, semaphore: asyncio.Semaphore, future: asyncio.Future) -> None:
        """Free the slot when the thread has finished (also after a timeout answered 504)."""
        if semaphore is self._semaphore:  # not one of a loop the application left
            self.running -= 1
            semaphore.release()
        if not future.cancelled():
            future.exception()  # retrieved here when nobody awaits it any more (after a 504)

    def close(self) -> None:
        """Stop the worker threads once they finish what they run; drop what waits."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


async def send_json(
    send: Send, status: int, body: dict[str, str], headers: dict[str, str] | None = None
) -> None:
    """Answer a JSON body from ASGI middleware (the connection is closed: the request body
    may not have been read)."""
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"connection", b"close"),
                *((key.lower().encode(), value.encode()) for key, value in (headers or {}).items()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


async def send_error(
    send: Send, error: MasterpieceError, headers: dict[str, str] | None = None
) -> None:
    """Answer a library error from ASGI middleware, with its status and code of
    :data:`~masterpiece.service.schemas.ERROR_ANSWERS`."""
    status, code = status_for(error)
    await send_json(send, status, {"error": code, "message": str(error)}, headers)


class ApiKeyCheck:
    """ASGI middleware: 401 for a ``/v1/*`` request without the API key, before its body is
    read (it is placed outside :class:`BodySizeLimit`). No key configured: nothing checked.

    The key is accepted in ``X-API-Key`` or as ``Authorization: Bearer KEY``.
    """

    def __init__(self, app: ASGIApp, api_key: str | None, prefix: str = "/v1/") -> None:
        self.app = app
        self.api_key = api_key
        self.prefix = prefix

    def _authorized(self, scope: Scope) -> bool:
        headers = {
            key.decode("latin-1").lower(): value.decode("latin-1")
            for key, value in scope.get("headers", ())
        }
        given = headers.get("x-api-key", "")
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if not given and scheme.lower() == "bearer":
            given = token.strip()
        return hmac.compare_digest(given.encode("utf-8", "replace"), self.api_key.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.api_key
            and scope["type"] == "http"
            and scope.get("path", "").startswith(self.prefix)
            and not self._authorized(scope)
        ):
            await send_json(
                send,
                401,
                {
                    "error": "unauthorized",
                    "message": "a valid API key is required in the X-API-Key header "
                    "(or Authorization: Bearer)",
                },
                {"WWW-Authenticate": "Bearer"},
            )
            return
        await self.app(scope, receive, send)


class AdmissionCheck:
    """ASGI middleware: 503 with ``Retry-After`` for a colorization arriving while every slot
    is busy and the queue is full, before its upload is read."""

    def __init__(
        self, app: ASGIApp, slots: ColorizationSlots, path: str, retry_after_s: int
    ) -> None:
        self.app = app
        self.slots = slots
        self.path = path
        self.retry_after_s = retry_after_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope.get("method") == "POST"
            and scope.get("path") == self.path
            and self.slots.full
        ):
            await send_error(
                send, self.slots.busy_error(), {"Retry-After": str(self.retry_after_s)}
            )
            return
        await self.app(scope, receive, send)


class BodySizeLimit:
    """ASGI middleware: 413 with a JSON error for request bodies above ``max_bytes``.

    The declared ``Content-Length`` is checked before anything is read; the bytes actually
    received are counted too, so a chunked upload (or a wrong header) is stopped as soon as it
    passes the limit. Whatever the application answers once the limit was passed (a framework
    may turn the interrupted read into a 400) is replaced by the 413.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        return (
            f"the request is larger than the limit of {self.max_bytes:,} bytes; "
            "send a smaller image"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise BodyTooLargeError(self._message())
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the 413 is sent instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:  # BodyTooLargeError, or what a framework made of it
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        await send_error(send, BodyTooLargeError(self._message()))
