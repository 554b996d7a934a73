"""One concurrency limit per HTTP endpoint, shared by every backend of an event loop that uses it.

Gates are bound to an event loop (asyncio primitives are), so there is one registry per loop;
the size of an endpoint's gate is the largest concurrency any backend asked for.
"""

from __future__ import annotations

import asyncio
import weakref


class EndpointGate:
    """At most `limit` requests in flight to one endpoint; the limit can only grow."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self._cond = asyncio.Condition()

    async def __aenter__(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self.active < self.limit)
            self.active += 1

    async def __aexit__(self, *exc: object) -> None:
        async with self._cond:
            self.active -= 1
            self._cond.notify()


_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, EndpointGate]] = (
    weakref.WeakKeyDictionary()
)
_LIMITS: dict[str, int] = {}


def endpoint_key(base_url: str) -> str:
    """The name under which `base_url` shares its gate (trailing slashes do not count)."""
    return base_url.rstrip("/")


def want_concurrency(base_url: str, concurrency: int) -> None:
    """Ask for at least `concurrency` requests in flight to `base_url` (gates only grow)."""
    key = endpoint_key(base_url)
    _LIMITS[key] = max(_LIMITS.get(key, 0), concurrency)


def endpoint_gate(base_url: str) -> EndpointGate:
    """The concurrency gate shared by every backend of this event loop that uses `base_url`."""
    key = endpoint_key(base_url)
    gates = _GATES.setdefault(asyncio.get_running_loop(), {})
    gate = gates.get(key)
    if gate is None:
        gate = gates[key] = EndpointGate(_LIMITS.get(key, 1))
    gate.limit = max(gate.limit, _LIMITS.get(key, 1))
    return gate
