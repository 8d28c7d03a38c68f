"""The one door between the window and the engine.

The engine lives on its own asyncio loop in a daemon thread (:class:`EngineThread`). The GUI
thread talks to it only through :class:`Bridge`:

- calls go in with ``asyncio.run_coroutine_threadsafe`` and never wait: their results come
  back as a queued Qt signal, and the callback runs on the GUI thread;
- reads (the engine's read models: missions, a mission's events, rules, waiting actions; they
  come from the journal on disk) run in a worker thread of the engine's loop (:meth:`Bridge.read`),
  so neither the GUI thread nor the engine's loop waits for the disk;
- the engine's events arrive typed (:mod:`app.api.events`, converted on the engine thread) and
  are gathered into batches, handed to the GUI thread as one queued signal per batch, so eight
  agents streaming text cost the GUI thread one wake-up per batch, not one per token.

The window sees the engine through its facade (:class:`app.engine.Engine`) and its contract
(:mod:`app.api`) only, never the journal's tables.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import threading
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import QObject, Qt, Signal, Slot

from app.errors import EngineError, EnsembleError

if TYPE_CHECKING:
    from collections.abc import Callable

    from app.api import AnyEvent
    from app.engine import Engine
    from app.paths import Paths
    from app.settings import Settings

log = logging.getLogger(__name__)


def error_text(error: object) -> str:
    """An error as the person reads it: an :class:`~app.errors.EnsembleError`'s own sentence,
    anything else (a bug) with its type."""
    if isinstance(error, EnsembleError):
        return str(error)
    return f"{type(error).__name__}: {error}"


T = TypeVar("T")


def _log_warm_up(future: asyncio.Future[None]) -> None:
    """Logs a failed import of the SDK (the first mission says what is wrong, in words)."""
    if not future.cancelled() and future.exception() is not None:
        log.warning("Could not import the model's SDK ahead of time", exc_info=future.exception())


class EngineThread(threading.Thread):
    """A daemon thread that runs one asyncio loop for ever (until :meth:`stop`)."""

    def __init__(self) -> None:
        super().__init__(name="ensemble-engine", daemon=True)
        self.loop = asyncio.new_event_loop()

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            # Calls still on their way (a read in a worker thread) end here, cancelled: their
            # callbacks are not called, and no task is left pending in a closed loop.
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def stop(self) -> None:
        """Asks the loop to stop; returns at once (join the thread to wait)."""
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)

    def close_unstarted(self) -> None:
        """Closes the loop of a thread that was never started (its sockets are not left open)."""
        if self.ident is None and not self.loop.is_closed():
            self.loop.close()


class Bridge(QObject):
    """The engine as seen from the GUI thread: calls in, signals out.

    Signals:
        engine_started: The engine is up; calls may be made.
        engine_failed(str): The engine could not start; the message says why.
        events_received(list): A batch of typed events (:data:`app.api.AnyEvent`), in order.
        call_failed(str, object): A call raised; what was being done, and the exception.
    """

    engine_started = Signal()
    engine_failed = Signal(str)
    events_received = Signal(list)
    call_failed = Signal(str, object)

    # Private: queued from the engine thread to the GUI thread.
    _batch_ready = Signal()
    _call_done = Signal(object, object, str)

    def __init__(self, paths: Paths | None = None, settings: Settings | None = None) -> None:
        super().__init__()
        self._paths = paths
        self._settings = settings
        self._thread = EngineThread()
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self._pending: list[AnyEvent] = []
        self._flush_scheduled = False
        self._closed = False
        self._warm_up: asyncio.Future[None] | None = None  # the SDK's import, once the engine is up
        self._batch_ready.connect(self._on_batch_ready, Qt.ConnectionType.QueuedConnection)
        self._call_done.connect(self._on_call_done, Qt.ConnectionType.QueuedConnection)

    # Life cycle -------------------------------------------------------------------------

    @property
    def engine(self) -> Engine | None:
        """The engine, once started. Touch it only on the engine's loop (see :meth:`call`)."""
        return self._engine

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The engine's loop."""
        return self._thread.loop

    def start(self) -> None:
        """Starts the engine thread and, on it, the engine; returns at once. Does nothing once
        :meth:`shutdown` was called (a window closed before it asked for its engine)."""
        if self._closed:
            return
        self._thread.start()

        async def create() -> None:
            # Importing the engine (SQLAlchemy, pydantic) takes a while: importing it here keeps
            # that off the GUI thread and out of the cold start. Calls made meanwhile (a mission
            # the person sent) wait on the loop behind this one and run once the engine is up.
            from app.engine import Engine, load_sdk

            engine = Engine(self._paths, self._settings)  # marks what a crash left as interrupted
            engine.subscribe_events(self._on_engine_event)
            self._engine = engine
            # The engine starts without the model's SDK (seconds to import on a slow machine):
            # it is imported now in a worker thread, so that the first mission does not wait.
            self._warm_up = self.loop.run_in_executor(None, load_sdk)
            self._warm_up.add_done_callback(_log_warm_up)

        future = asyncio.run_coroutine_threadsafe(create(), self.loop)
        future.add_done_callback(
            lambda f: self._call_done.emit(f, self._on_engine_created, "start the engine")
        )

    def _on_engine_created(self, _result: object) -> None:
        self.engine_started.emit()

    def shutdown(self, timeout: float = 10.0, *, pause: bool = False) -> None:
        """Stops every mission, closes the journal and ends the thread.

        This waits (at most ``timeout`` seconds) for the engine to stop: it is called when
        the window closes, when nothing else is left to draw.

        Args:
            timeout: How long to wait for the engine, in seconds.
            pause: Pause the running missions (they stay ``interrupted``, their cards
                pending, and resume at the next start) instead of cancelling them.
        """
        if self._closed:
            return
        self._closed = True
        if not self._thread.is_alive():
            self._thread.close_unstarted()
            return
        if self._engine is not None:
            future = asyncio.run_coroutine_threadsafe(self._engine.close(pause=pause), self.loop)
            try:
                future.result(timeout)
            except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
                log.warning("The engine did not stop within %s s", timeout)
            except Exception:  # Shutting down must finish whatever the engine raised; logged.
                log.exception("The engine raised while stopping")
        self._thread.stop()
        self._thread.join(timeout)

    # Calls in ------------------------------------------------------------------------------

    def call(
        self,
        fn: Callable[[Engine], Any],
        on_done: Callable[[Any], object] | None = None,
        *,
        what: str,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Runs ``fn(engine)`` on the engine's loop; never waits.

        Args:
            fn: Gets the engine; may return a value or an awaitable (awaited on the loop).
            on_done: Called on the GUI thread with the result.
            what: What is being done, in words for a person ("approve the action"), for
                :attr:`call_failed`.
            on_error: Called on the GUI thread if ``fn`` raised, before :attr:`call_failed`.
        """
        if self._closed or not self._thread.is_alive():
            return

        async def runner() -> Any:
            if self._engine is None:
                raise EngineError("The engine is not running.")
            result = fn(self._engine)
            if inspect.isawaitable(result):
                result = await result
            return result

        future = asyncio.run_coroutine_threadsafe(runner(), self.loop)
        callback = (on_done, on_error)
        future.add_done_callback(lambda f: self._call_done.emit(f, callback, what))

    def read(
        self,
        fn: Callable[[Engine], T],
        on_done: Callable[[T], object],
        *,
        what: str,
    ) -> None:
        """Runs ``fn(engine)`` in a worker thread (a read model: it reads the disk); ``on_done``
        gets the result on the GUI thread."""
        self.call(lambda engine: asyncio.to_thread(fn, engine), on_done, what=what)

    def post(self, fn: Callable[[Engine], object]) -> None:
        """Runs a quick synchronous ``fn(engine)`` on the engine's loop, ignoring its result."""
        self.call(fn, None, what="update the engine")

    @Slot(object, object, str)
    def _on_call_done(self, future: concurrent.futures.Future[Any], callback: Any, what: str) -> None:
        if isinstance(callback, tuple):
            on_done, on_error = callback
        else:
            on_done, on_error = callback, None
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            if what == "start the engine":
                log.error("The engine could not start", exc_info=error)
                self.engine_failed.emit(f"{type(error).__name__}: {error}")
                return
            if on_error is not None:
                on_error(error)
            self.call_failed.emit(what, error)
            return
        if on_done is not None:
            on_done(future.result())

    # Events out ----------------------------------------------------------------------------

    def _on_engine_event(self, event: AnyEvent) -> None:
        """On the engine thread: queue the event; wake the GUI thread once per batch."""
        with self._lock:
            self._pending.append(event)
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        self._batch_ready.emit()

    @Slot()
    def _on_batch_ready(self) -> None:
        with self._lock:
            events, self._pending = self._pending, []
            self._flush_scheduled = False
        if events:
            self.events_received.emit(events)
