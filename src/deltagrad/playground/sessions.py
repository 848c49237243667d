"""The table of all sessions: unguessable ids, a cap on how many exist, and clean-up.

No user is ever locked out by tabs others left behind: at the cap, a new session takes the
place of the least recently watched one that no page is watching (no open event stream);
only when every session is being watched is a new one refused. Sessions nobody watches
pause after ``idle_pause_s`` and close after ``ttl_s``, so closed tabs do not keep a CPU
busy. Memory: ``max_sessions`` sessions of at most ``session.MEMORY_HELD`` bytes each (2 MiB),
plus ``session.MEMORY_STEP`` (20 MiB) for each one in the middle of a training step: with
the default cap of 32, at most 64 MiB held and 704 MiB if all 32 trained the largest network
on the largest batch at once.
"""

from __future__ import annotations

import threading
import time

from .session import Session
from .settings import Settings


class TooManySessions(RuntimeError):
    """Every session the server allows is being watched by an open page."""


class Sessions:
    """All live sessions by id, with a cap and idle clean-up."""

    def __init__(self, *, max_sessions: int = 32, idle_pause_s: float = 30.0,
                 ttl_s: float = 600.0, publish_every: float = 0.1, clock=time.monotonic):
        self.max_sessions, self.idle_pause_s, self.ttl_s = max_sessions, idle_pause_s, ttl_s
        self.publish_every, self.clock = publish_every, clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, settings: Settings) -> Session:
        """A new session; at the cap, the least recently watched unwatched one is closed to
        make room (``TooManySessions`` if every one is watched)."""
        self.reap()
        session = Session(settings, publish_every=self.publish_every, clock=self.clock)
        with self._lock:
            room = self.max_sessions - len(self._sessions) - 1  # < 0: that many must go
            unwatched = sorted((s for s in self._sessions.values() if s.listeners == 0),
                               key=lambda s: s.last_seen)
            admitted = len(unwatched) >= -room
            evicted = unwatched[:max(-room, 0)] if admitted else []
            for old in evicted:
                del self._sessions[old.id]
            if admitted:
                self._sessions[session.id] = session
        for old in evicted:
            old.close()
        if not admitted:
            session.close()
            raise TooManySessions(f"all {self.max_sessions} sessions of this playground are "
                                  f"open in a page right now; close a tab or try again later")
        return session

    def get(self, session_id: str) -> Session:
        session = self._sessions.get(session_id)
        if session is None:
            raise KeyError(session_id)
        session.touch()
        return session

    def close(self, session_id: str) -> bool:
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is not None:
            session.close()
        return session is not None

    def reap(self) -> list[str]:
        """Pause sessions nobody has watched for ``idle_pause_s``; close those idle ``ttl_s``."""
        now, closed = self.clock(), []
        for session in list(self._sessions.values()):
            if session.listeners > 0:
                session.touch()  # an open event stream counts as being watched
                continue
            idle = now - session.last_seen
            if idle > self.ttl_s:
                self.close(session.id)
                closed.append(session.id)
            elif idle > self.idle_pause_s and session.running:
                session.pause()
        return closed

    def close_all(self) -> None:
        for session_id in list(self._sessions):
            self.close(session_id)

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, session_id: str) -> bool:
        return session_id in self._sessions
