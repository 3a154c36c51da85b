"""Run manager calls off the GUI thread and bring their results and progress back as Qt signals.

The core reports progress through one plain callable (``Manager.reporter``). ``EventRouter``
replaces it with a callable that forwards each event to the task running *in the calling thread*,
so every task re-emits exactly the events of its own manager call, in order, as a Qt signal
(delivered to the GUI thread by Qt's queued connections).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal

from myonion.events import Event, Reporter
from myonion.manager import Manager
from myonion_gui.errors import UserError


class EventRouter:
    """A Reporter that passes events on to the previous one and to the current thread's sink."""

    def __init__(self, fallback: Reporter) -> None:
        self.fallback = fallback
        self._local = threading.local()

    def __call__(self, event: Event) -> None:
        self.fallback(event)
        sink: Reporter | None = getattr(self._local, "sink", None)
        if sink is not None:
            sink(event)

    @contextmanager
    def routed_to(self, sink: Reporter) -> Iterator[None]:
        """Send the events reported by this thread to ``sink`` while the block runs."""
        previous = getattr(self._local, "sink", None)
        self._local.sink = sink
        try:
            yield
        finally:
            self._local.sink = previous

    @classmethod
    def install(cls, manager: Manager) -> EventRouter:
        """Wrap the manager's reporter (once); its previous reporter still gets every event."""
        if isinstance(manager.reporter, EventRouter):
            return manager.reporter
        router = cls(manager.reporter)
        manager.reporter = router
        return router


class TaskSignals(QObject):
    """What a task tells the GUI thread, each with the task's number: progress events, then a
    result or an error, then that it is done."""

    progress = Signal(int, object)  # myonion.events.Event
    finished = Signal(int, object)  # the call's return value
    failed = Signal(int, object)  # myonion_gui.errors.UserError
    done = Signal(int)  # after finished or failed


@dataclass(frozen=True)
class Callbacks:
    """What to call in the GUI thread for one task."""

    on_finished: Callable[[Any], None] | None
    on_failed: Callable[[UserError], None] | None
    on_event: Callable[[Event], None] | None


class Task:
    """One blocking call, run on a pool thread.

    A plain object whose ``run`` the pool is given: PySide keeps every QRunnable handed to
    ``QThreadPool.start`` (with what it holds) for as long as the pool lives, a callable it lets
    go once run.
    """

    def __init__(self, call: Callable[[], Any], router: EventRouter | None,
                 key: int = 0) -> None:
        self.key = key
        self.call = call
        self.router = router
        self.signals = TaskSignals()

    def run(self) -> None:
        signals, key = self.signals, self.key
        try:
            if self.router is None:
                result = self.call()
            else:
                with self.router.routed_to(lambda event: signals.progress.emit(key, event)):
                    result = self.call()
        except BaseException as e:  # shown as a message, never as a traceback
            signals.failed.emit(key, UserError.from_exception(e))
        else:
            signals.finished.emit(key, result)
        signals.done.emit(key)


class Runner(QObject):
    """Starts tasks on its own thread pool and keeps them alive until they are done.

    Every task's signals go to the runner's own methods, which call the task's callbacks: a
    connection ends with the runner, so a window closed while a task still runs gets nothing
    delivered to what is gone ("Signal source has been deleted"); and no slot holds the task
    itself (a cycle through Qt's connections that Python's collector cannot see: every task,
    with what its closures held, stayed for as long as the window lived).
    """

    busy_changed = Signal(bool)

    def __init__(self, router: EventRouter | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.router = router
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(8)
        self._tasks: dict[int, tuple[Task, Callbacks]] = {}
        self._ids = itertools.count()
        #: tasks that reported back, let go once their last signal has been delivered
        self._finished: list[Task] = []

    def submit(
        self,
        call: Callable[[], Any],
        on_finished: Callable[[Any], None] | None = None,
        on_failed: Callable[[UserError], None] | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> Task:
        """Run ``call`` off the GUI thread; the callbacks run in the GUI thread."""
        task = Task(call, self.router, next(self._ids))
        self._tasks[task.key] = (task, Callbacks(on_finished, on_failed, on_event))
        task.signals.progress.connect(self._progress)
        task.signals.finished.connect(self._finished_with)
        task.signals.failed.connect(self._failed_with)
        task.signals.done.connect(self._forget)
        if len(self._tasks) == 1:
            self.busy_changed.emit(True)
        self.pool.start(task.run)
        return task

    def _callbacks(self, key: int) -> Callbacks | None:
        entry = self._tasks.get(key)
        return entry[1] if entry is not None else None

    def _progress(self, key: int, event: Event) -> None:
        callbacks = self._callbacks(key)
        if callbacks is not None and callbacks.on_event is not None:
            callbacks.on_event(event)

    def _finished_with(self, key: int, result: Any) -> None:
        callbacks = self._callbacks(key)
        if callbacks is not None and callbacks.on_finished is not None:
            callbacks.on_finished(result)

    def _failed_with(self, key: int, error: UserError) -> None:
        callbacks = self._callbacks(key)
        if callbacks is not None and callbacks.on_failed is not None:
            callbacks.on_failed(error)

    def _forget(self, key: int) -> None:
        entry = self._tasks.pop(key, None)
        if entry is not None:
            # not freed inside the delivery of its own signal: right after it
            self._finished.append(entry[0])
            QTimer.singleShot(0, self._finished.clear)
        if not self._tasks:
            self.busy_changed.emit(False)

    @property
    def active(self) -> int:
        """How many tasks have not reported back to the GUI thread yet."""
        return len(self._tasks)

    def wait(self, msecs: int = -1) -> bool:
        """Block until every pool thread is idle (used when the app quits, and by tests)."""
        return bool(self.pool.waitForDone(msecs))
