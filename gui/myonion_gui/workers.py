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
    """What a task tells the GUI thread: progress events, then a result or an error."""

    progress = Signal(object)  # myonion.events.Event
    finished = Signal(object)  # the call's return value
    failed = Signal(object)  # gui.errors.UserError
    done = Signal()  # after finished or failed


class Task:
    """One blocking call, run on a pool thread.

    A plain object whose ``run`` the pool is given: PySide keeps every QRunnable handed to
    ``QThreadPool.start`` (with what it holds) for as long as the pool lives, a callable it lets
    go once run.
    """

    def __init__(self, call: Callable[[], Any], router: EventRouter | None) -> None:
        self.call = call
        self.router = router
        self.signals = TaskSignals()

    def run(self) -> None:
        try:
            if self.router is None:
                result = self.call()
            else:
                with self.router.routed_to(self.signals.progress.emit):
                    result = self.call()
        except BaseException as e:  # shown as a message, never as a traceback
            self.signals.failed.emit(UserError.from_exception(e))
        else:
            self.signals.finished.emit(result)
        self.signals.done.emit()


class Runner(QObject):
    """Starts tasks on its own thread pool and keeps them alive until they are done."""

    busy_changed = Signal(bool)

    def __init__(self, router: EventRouter | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.router = router
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(8)
        self._tasks: dict[int, Task] = {}
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
        task = Task(call, self.router)
        if on_event is not None:
            task.signals.progress.connect(on_event)
        if on_finished is not None:
            task.signals.finished.connect(on_finished)
        if on_failed is not None:
            task.signals.failed.connect(on_failed)
        # the slot knows the task by a number: a lambda holding the task itself would make a
        # cycle through Qt's connection (task -> signals -> slot -> task) that Python's
        # collector cannot see, and every task, with what its closures hold, would stay
        key = next(self._ids)
        task.signals.done.connect(lambda: self._forget(key))
        self._tasks[key] = task
        if len(self._tasks) == 1:
            self.busy_changed.emit(True)
        self.pool.start(task.run)
        return task

    def _forget(self, key: int) -> None:
        task = self._tasks.pop(key, None)
        if task is not None:
            # not freed inside the delivery of its own signal: right after it
            self._finished.append(task)
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
