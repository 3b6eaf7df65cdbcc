"""Who the simulated users are, and what every user of one process shares (no Locust here).

Identities, in order of preference:

- the test issuer (``--issuer-port``, ``--issuer-key``, or the bundled server): a token
  minted per simulated user, so every user is a user of its own and the isolation
  invariant is judged in full;
- ``--user-headers-a`` with ``{user}`` in a value: one header set per simulated user;
- ``--token``/``--token-command`` (and ``--token-b``, ``--user-headers-b``): the given
  identities, shared; isolation is then judged only between different identities.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from harness.load.conversation import Registry, UserRecord, new_marker
from harness.target.config import Target

USER_PLACEHOLDER = "{user}"

# (subject, headers, unique) for the n-th simulated user of this process.
IdentityFactory = Callable[[int], tuple[str, dict[str, str], bool]]


def identity_factory(target: Target, mint: Callable[[str], str] | None) -> IdentityFactory:
    """The identities of the simulated users; ``mint(sub)`` signs a token for one."""
    run = uuid.uuid4().hex[:8]  # subjects differ across workers and runs

    if mint is not None:

        def minted(n: int) -> tuple[str, dict[str, str], bool]:
            sub = f"load-{run}-{n}"
            return sub, {"Authorization": f"Bearer {mint(sub)}"}, True

        return minted
    per_user = any(USER_PLACEHOLDER in v for v in target.user_headers_a.values())
    if per_user:

        def templated(n: int) -> tuple[str, dict[str, str], bool]:
            sub = f"load-{run}-{n}"
            hdrs = {k: v.replace(USER_PLACEHOLDER, sub) for k, v in target.user_headers_a.items()}
            return sub, hdrs, True

        return templated
    shared = [target.identity("a")]
    second = target.identity("b")
    if second is not None:
        shared.append(second)

    def given(n: int) -> tuple[str, dict[str, str], bool]:
        ident = shared[n % len(shared)]
        name = "user a" if n % len(shared) == 0 else "user b"
        return name, dict(ident.headers) if ident else {}, False

    return given


@dataclass
class LoadContext:
    """What every simulated user of one process reads (``environment.chatkit``)."""

    url: str | None  # None on a worker until the master says (environment.host)
    identities: IdentityFactory
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 30.0
    turns: int = 2
    think_time: float = 0.5
    registry: Registry = field(default_factory=Registry)
    _count: itertools.count[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def new_user(self) -> UserRecord:
        with self._lock:
            n = next(self._count)
        name, headers, unique = self.identities(n)
        record = UserRecord(name=name, marker=new_marker(), headers=headers, unique=unique)
        self.registry.add(record)
        return record
