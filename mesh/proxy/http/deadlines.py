"""Deadlines as numbers: one timer per event loop instead of one per step.

`asyncio.timeout` costs a timer handle per block (on uvloop, a libuv timer started and
stopped), plus another for every `reschedule`; the data plane entered about five per request.
Here a step's deadline is a float stored on a `Deadline` object that lives as long as the
connection (or the task) that arms it, and one `Sweep` per event loop enforces all of them.
Measured on uvloop (2 cores, busy): `asyncio.timeout_at` entered and left, 5.5-9 us; a
Deadline armed and disarmed, 0.4 us; a keep-alive GET through the inbound listener went from
5 timers to none, about 30 us of CPU less. In use:

    deadline = Deadline()               # once per connection or task
    with deadline.after(5.0):           # arm: a float store and a set insertion
        head = await read_head()        # TimeoutError here once the deadline has passed
    with deadline.at(loop_time):        # re-armed for the next step
        ...
        deadline.reschedule(later)      # moved while in the block: a float store

Semantics are asyncio.Timeout's (CPython 3.11, asyncio/timeouts.py): on expiry the sweep
cancels the task that armed the deadline, and leaving the block turns that cancellation into
TimeoutError only when no other cancellation was requested meanwhile (`Task.uncancel()` back
to the count seen on entry). So an outer `task.cancel()` is never swallowed, even one that
comes together with an expiry, and with nested deadlines that both expired the outermost one
raises. A deadline is armed in one block at a time; nested blocks use separate objects.

Resolution: the sweep never fires a deadline early (it fires those whose time is at or before
the loop's clock when it runs), and at most RESOLUTION late (plus however late the event loop
itself runs). The timer is not a metronome: it is set for the earliest armed deadline, but no
sooner than RESOLUTION after the previous sweep, so many deadlines close together share one
wake-up; arming a deadline more than RESOLUTION before the timer moves the timer earlier (rare:
deadlines come from a handful of timeouts, and a later deadline never moves it). When a sweep
finds nothing armed the timer stops, so an idle agent has no timer at all, and one holding idle
keep-alive connections wakes when the first of their idle timeouts is due, not 20 times a second.

`due` and `next_sweep` are the decisions, pure functions of the armed deadlines and the time;
`Sweep` and `Deadline` are the thin part that touches the event loop.
"""

from __future__ import annotations

import asyncio
import math
import sys
import weakref
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Protocol, TypeVar

# How late a deadline may fire at most (the sweep's coalescing window).
RESOLUTION = 0.05
# Added to the time the timer is set for: event loops may run a timer a little before its time
# (uvloop rounds to whole milliseconds, asyncio allows its clock's resolution), and a sweep a
# hair too early would find the deadline not yet due and leave it for the next one.
SLACK = 0.001


# The task running on a loop. Python 3.11's asyncio.current_task is Python code that looks the
# loop up again (about 0.3 us, a third of arming a deadline); the dict it reads is the same.
_task_of: Callable[[asyncio.AbstractEventLoop], asyncio.Task[Any] | None]
if sys.version_info >= (3, 12):
    _task_of = asyncio.current_task
else:
    _task_of = asyncio.tasks._current_tasks.get  # type: ignore[attr-defined]


class Armed(Protocol):
    @property
    def when(self) -> float: ...


A = TypeVar("A", bound=Armed)


def due(armed: Iterable[A], now: float) -> tuple[list[A], float]:
    """The deadlines due at `now` (at or before it: never early), and the earliest of the rest
    (math.inf when none is left)."""
    expired: list[A] = []
    earliest = math.inf
    for deadline in armed:
        when = deadline.when
        if when <= now:
            expired.append(deadline)
        elif when < earliest:
            earliest = when
    return expired, earliest


def next_sweep(earliest: float, now: float) -> float | None:
    """When the sweep at `now` should run next, the earliest deadline left being `earliest`;
    None: nothing is armed, the timer stops. At most RESOLUTION after `earliest`, since `now`
    is before it."""
    if earliest == math.inf:
        return None
    return max(earliest + SLACK, now + RESOLUTION)


def sweep_too_late(scheduled: float, when: float) -> bool:
    """A deadline armed for `when` needs the timer moved: it is set for `scheduled` (math.inf:
    no timer), more than RESOLUTION after `when`."""
    return scheduled > when + RESOLUTION


class Sweep:
    """The one timer of an event loop, and the deadlines armed on it."""

    __slots__ = ("_loop", "_timer", "armed", "scheduled", "schedules")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weakly: the sweeps are kept by loop in a WeakKeyDictionary, whose values must not hold their keys.
        self._loop = weakref.ref(loop)
        self._timer: asyncio.TimerHandle | None = None
        self.armed: set[Deadline] = set()
        self.scheduled = math.inf  # loop time the timer is set for; math.inf: no timer
        self.schedules = 0  # timers set so far (a measure of how well deadlines share them)

    @property
    def running(self) -> bool:
        return self._timer is not None

    def wake(self, when: float) -> None:
        """Move the timer to `when` (a deadline armed before it)."""
        loop = self._loop()
        if loop is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._start(loop, when + SLACK)

    def _start(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        self.scheduled = at
        self.schedules += 1
        self._timer = loop.call_at(at, self._sweep)

    def _sweep(self) -> None:
        self._timer = None
        self.scheduled = math.inf
        loop = self._loop()
        if loop is None:
            return
        now = loop.time()
        expired, earliest = due(self.armed, now)
        for deadline in expired:
            self.armed.discard(deadline)
            deadline.fire()
        at = next_sweep(earliest, now)
        if at is not None:
            self._start(loop, at)


_sweeps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Sweep] = weakref.WeakKeyDictionary()
# The last one looked up: a process runs one loop, and WeakKeyDictionary.get makes a weakref per call.
_last: Sweep | None = None


def sweep_of(loop: asyncio.AbstractEventLoop) -> Sweep:
    """The event loop's sweep, created on first use."""
    global _last
    last = _last
    if last is not None and last._loop() is loop:
        return last
    sweep = _sweeps.get(loop)
    if sweep is None:
        sweep = _sweeps[loop] = Sweep(loop)
    _last = sweep
    return sweep


class Deadline:
    """A reusable deadline: armed with a float for one `with` block at a time (see the module).

    Made anywhere (no event loop needed); it binds to the loop it is first armed on.
    """

    __slots__ = ("_cancelling", "_fired", "_loop", "_sweep", "_task", "when")

    def __init__(self) -> None:
        self.when = math.inf  # loop time it expires at; math.inf: never
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweep: Sweep | None = None
        self._task: asyncio.Task[Any] | None = None  # the task in the block, while armed
        self._cancelling = 0
        self._fired = False

    def at(self, when: float | None) -> Deadline:
        """For the `with` block that follows: expire at loop time `when` (None: never)."""
        self.when = math.inf if when is None else when
        return self

    def after(self, delay: float | None) -> Deadline:
        """For the `with` block that follows: expire `delay` seconds from now (None: never)."""
        if delay is None:
            self.when = math.inf
            return self
        loop = self._loop
        if loop is None:
            loop = asyncio.get_running_loop()
            self._bind(loop)
        self.when = loop.time() + delay
        return self

    def reschedule(self, when: float | None) -> None:
        """Move the deadline of the block under way (None: never)."""
        if self._task is None:
            raise RuntimeError("the deadline is not armed")
        self.when = when = math.inf if when is None else when
        sweep = self._sweep
        assert sweep is not None
        if not self._fired and sweep_too_late(sweep.scheduled, when):
            sweep.wake(when)

    @property
    def expired(self) -> bool:
        """The last block's deadline passed (whether or not that block raised TimeoutError)."""
        return self._fired

    def expire(self) -> None:
        """Expire now, ahead of time (a draining listener closing idle connections at once)."""
        if self._task is not None and not self._fired:
            assert self._sweep is not None
            self._sweep.armed.discard(self)
            self.fire()

    def fire(self) -> None:
        """The sweep's call: cancel the task in the block; leaving the block turns it into TimeoutError."""
        task = self._task
        if task is None or self._fired:
            return
        self._fired = True
        task.cancel()

    def __enter__(self) -> Deadline:
        if self._task is not None:
            raise RuntimeError("a deadline is armed in one block at a time")
        loop, sweep = self._loop, self._sweep
        if loop is None or sweep is None:
            loop = asyncio.get_running_loop()
            sweep = self._bind(loop)
        task = _task_of(loop)
        if task is None:
            raise RuntimeError("a deadline is armed inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._fired = False
        sweep.armed.add(self)
        when = self.when
        if sweep.scheduled > when + RESOLUTION:  # sweep_too_late, inline: this is the hot path
            sweep.wake(when)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        task = self._task
        assert task is not None
        self._task = None
        if not self._fired:
            assert self._sweep is not None
            self._sweep.armed.discard(self)
            return
        # asyncio.Timeout's rule: ours only if no other cancellation came since the block began.
        if task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc

    def _bind(self, loop: asyncio.AbstractEventLoop) -> Sweep:
        self._loop = loop
        sweep = self._sweep = sweep_of(loop)
        return sweep
