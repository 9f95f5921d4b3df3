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
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

T = TypeVar("T")


class ServiceBusyError(Exception):
    """Every colorization slot stayed busy (or the queue is full): answer 503."""


class ColorizationTimeoutError(Exception):
    """A colorization took longer than the request time limit: answer 504."""


def _set_torch_threads(count: int) -> None:
    import torch

    torch.set_num_threads(count)


class ColorizationSlots:
    """At most ``max_concurrent`` colorizations at once, each on its own worker thread.

    Each worker thread uses ``cores / max_concurrent`` torch threads (as the CLI's batch
    runner does), so concurrent requests share the cores instead of oversubscribing them.
    Create it anywhere; it binds to the running event loop on first use.
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
        self._semaphore = asyncio.Semaphore(max_concurrent)
        self._executor: ThreadPoolExecutor | None = None

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            import torch

            share = max(1, torch.get_num_threads() // self.max_concurrent)
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
        await self._acquire()
        try:
            future = asyncio.get_running_loop().run_in_executor(self._pool(), function, *args)
        except BaseException:
            self._semaphore.release()
            raise
        self.running += 1
        future.add_done_callback(self._release)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.request_timeout_s)
        except asyncio.TimeoutError:
            raise ColorizationTimeoutError(
                f"the colorization took longer than the limit of {self.request_timeout_s:g} s; "
                "send a smaller image"
            ) from None

    async def _acquire(self) -> None:
        if self._semaphore.locked() and self.waiting >= self.max_queue:
            raise ServiceBusyError(
                f"the server is busy: {self.max_concurrent} colorization(s) running and "
                f"{self.waiting} waiting; retry later"
            )
        self.waiting += 1
        try:
            await asyncio.wait_for(self._semaphore.acquire(), self.queue_timeout_s)
        except asyncio.TimeoutError:
            raise ServiceBusyError(
                f"the server is busy: no colorization slot became free within "
                f"{self.queue_timeout_s:g} s; retry later"
            ) from None
        finally:
            self.waiting -= 1

    def _release(self, future: asyncio.Future) -> None:
        """Free the slot when the thread has finished (also after a timeout answered 504)."""
        self.running -= 1
        self._semaphore.release()
        if not future.cancelled():
            future.exception()  # retrieved here when nobody awaits it any more (after a 504)

    def close(self) -> None:
        """Stop the worker threads once they finish what they run; drop what waits."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


class BodyTooLargeError(Exception):
    """The request body passed the limit while it was being read."""


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
        body = json.dumps({"error": "request_too_large", "message": self._message()}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
