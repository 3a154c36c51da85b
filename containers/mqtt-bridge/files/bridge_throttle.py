"""Failed broker logins through the onion, throttled so that guessing is slow and a device that
knows its password is not queued behind the guessers.

Every onion visitor arrives from 127.0.0.1 through tor, so there is no address to key on; what a
CONNECT carries is its user name (the device's id), its client id and its password. A password
cannot tell a real device from a guesser before it is tried, and whatever answers a right
password at once, while guessers run, answers a guesser's right password at once too: a tarpit
that tries every CONNECT and only delays the wrong ones gives away a try per connection, and
guessing would be as fast as connections can be opened. So the throttle still lets a login be
tried only with a token of failures, and separates *who waits for which tokens*:

- each device (a user name of ``names``, or one that has logged in) has its own bucket: guessing
  one device's password does not slow the logins of the others; unknown user names share one;
- a (user name, client id) that has logged in successfully gets a lane of its own, with its own
  small bucket (``lane_burst`` at once, then one every ``lane_every`` seconds), at most
  ``lanes_per_name`` lanes a name. Devices keep their client id from one connection to the next
  (the broker keys sessions on it), so a device that has been in before does not wait behind
  guessers who do not know its client id. Only a successful login makes a lane: a guesser
  cannot make one without the password. A guesser who does know a client id gets that lane's
  tokens, no more.

A login waits for a token of its bucket (first come, first served; at most ``max_waiting`` wait
in a bucket, more are closed at once), a successful one gives its token back. So guessing one
device's password costs at most one try every ``every`` seconds on the name's bucket plus
``lanes_per_name`` tries every ``lane_every`` seconds on its lanes (defaults: 0.1 + 2/60 =
0.13 tries/s, against 13.5/s unthrottled); a device's first login ever while someone guesses its
password still waits for its name's tokens.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Iterable


class Bucket:
    """A token bucket of failed logins: ``burst`` at once, then one every ``every`` seconds."""

    def __init__(self, burst: int, every: float, max_waiting: int) -> None:
        self.burst, self.every, self.max_waiting = burst, every, max_waiting
        self.tokens = float(burst)
        self.stamp = time.monotonic()
        self.waiting = 0
        self._turn = asyncio.Lock()  # first come, first served

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) / self.every)
        self.stamp = now

    async def take(self) -> bool:
        """Wait for a token; False (at once) when too many logins wait already."""
        if self.waiting >= self.max_waiting:
            return False
        self.waiting += 1
        try:
            async with self._turn:
                self._refill()
                while self.tokens < 1:
                    await asyncio.sleep((1 - self.tokens) * self.every)
                    self._refill()
                self.tokens -= 1
                return True
        finally:
            self.waiting -= 1

    def give_back(self) -> None:
        self._refill()
        self.tokens = min(float(self.burst), self.tokens + 1)


class LoginThrottle:
    """The buckets of failed onion logins: one a device, one for unknown names, one a known
    (user name, client id); see the module's docstring."""

    def __init__(self, burst: int = 5, every: float = 10.0, max_waiting: int = 8,
                 names: Iterable[str] = (), lane_burst: int = 3, lane_every: float = 60.0,
                 lanes_per_name: int = 2, max_names: int = 256) -> None:
        self.burst, self.every, self.max_waiting = burst, every, max_waiting
        self.lane_burst, self.lane_every = lane_burst, lane_every
        self.lanes_per_name, self.max_names = lanes_per_name, max_names
        self.configured = set(names)
        self.learned: OrderedDict[str, None] = OrderedDict()  # names that logged in, bounded
        self.by_name: dict[str, Bucket] = {}
        self.lanes: dict[str, OrderedDict[str, Bucket]] = {}  # name -> client id -> bucket
        self.others = Bucket(burst, every, max_waiting)
        self.failed = 0

    def bucket(self, user: str | None, client_id: str) -> Bucket:
        """The bucket a CONNECT with this user name and client id waits on."""
        if user is None:
            return self.others
        lanes = self.lanes.get(user)
        lane = lanes.get(client_id) if lanes is not None and client_id else None
        if lane is not None:
            return lane
        if user in self.configured or user in self.learned:
            if user not in self.by_name:
                self.by_name[user] = Bucket(self.burst, self.every, self.max_waiting)
            return self.by_name[user]
        return self.others

    def succeeded(self, user: str | None, client_id: str, bucket: Bucket) -> None:
        """A login with ``bucket``'s token was accepted: the token goes back, the name becomes
        known and (user name, client id) gets its lane."""
        bucket.give_back()
        if user is None:
            return
        if user not in self.configured:
            self.learned[user] = None
            self.learned.move_to_end(user)
            while len(self.learned) > self.max_names:
                gone, _ = self.learned.popitem(last=False)
                self.by_name.pop(gone, None)
                self.lanes.pop(gone, None)
        if not client_id:
            return
        lanes = self.lanes.setdefault(user, OrderedDict())
        if client_id not in lanes:
            lanes[client_id] = Bucket(self.lane_burst, self.lane_every, self.max_waiting)
        lanes.move_to_end(client_id)
        while len(lanes) > self.lanes_per_name:
            lanes.popitem(last=False)
