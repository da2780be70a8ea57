"""How many bytes of image decoding one process has in flight, across its threads.

A count of concurrent decodes does not bound memory: two images at the limit take twice the
limit, and a web process answers several requests at once. Here each decode reserves what it
will take at its peak (`imaging.decoding_cost`, from the header) and waits, first come first
served, until the process's reservations leave room for it. A reservation lasts until the
pixels handed back are freed, so a caller that still holds a decoded image (a prediction runs
the model on it) is counted until it lets go.

Plain Python (no Django, no Pillow).
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Callable


class PixelBudget:
    def __init__(self) -> None:
        # An RLock: a reservation's release can run from a finalizer inside this very lock
        # (garbage collection in the middle of a wait's bookkeeping).
        self._cond = threading.Condition(threading.RLock())
        self._used = 0
        self._queue: deque[object] = deque()
        self._held: dict[int, int] = {}  # thread id → its reservations still alive

    @property
    def used(self) -> int:
        with self._cond:
            return self._used

    def reserve(self, cost: int, capacity: int) -> Callable[[], None]:
        """Wait until `cost` bytes fit beside the reservations alive (always, when none is),
        take them, and return the function that gives them back (idempotent).

        A thread that still holds a reservation does not wait: it would be waiting for
        itself. It is counted all the same.
        """
        me = threading.get_ident()
        with self._cond:
            if not self._held.get(me):
                ticket = object()
                self._queue.append(ticket)
                try:
                    while self._queue[0] is not ticket or (
                        self._used and self._used + cost > capacity
                    ):
                        self._cond.wait()
                finally:
                    self._queue.remove(ticket)
                    self._cond.notify_all()  # the next in line may fit beside this one
            self._used += cost
            self._held[me] = self._held.get(me, 0) + 1
        released = False

        def release() -> None:
            nonlocal released
            with self._cond:
                if released:
                    return
                released = True
                self._used -= cost
                if self._held[me] == 1:
                    del self._held[me]
                else:
                    self._held[me] -= 1
                self._cond.notify_all()

        return release

    def hold_until_freed(self, obj: object, release: Callable[[], None]) -> None:
        """Give the reservation back when `obj` (the decoded image) is garbage."""
        weakref.finalize(obj, release)
