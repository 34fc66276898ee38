"""A proxy that remembers a path into an actor and nothing else.

pykka's `ActorProxy` walks every public attribute of the actor when it is made, and walks the
whole actor again for each nested group reached through it: `proxy.api.orders` is a third walk.
A Waldur actor's nine groups made eleven walks of ~130 entries each: with the backend actor's,
about 0.3 MiB per offering, a quarter of what 100 idle offerings cost (docs/benchmarks.md, many
offerings). The other actors reach the backend and Waldur actors only by calling the methods
their typed proxy classes declare (mypy checks each call against those), so the proxy needs
only the path: a call is the `ProxyCall` ask, without waiting, that pykka's own proxy sends,
and the actor resolves the path when it handles it. A name the actor lacks fails that call's
future with the `AttributeError`, where pykka's proxy raised it at once.
"""

from __future__ import annotations

from typing import Any

import pykka
from pykka.messages import ProxyCall


class Remote:
    __slots__ = ("_groups", "_path", "_ref")

    def __init__(self, ref: pykka.ActorRef[Any], path: tuple[str, ...] = ()) -> None:
        self._ref = ref
        self._path = path
        self._groups: dict[str, Remote] = {}

    def __getattr__(self, name: str) -> Remote:
        if name.startswith("_"):
            raise AttributeError(name)  # private to the actor, as with pykka's proxy
        group = self._groups.get(name)
        if group is None:
            group = self._groups[name] = Remote(self._ref, (*self._path, name))
        return group

    def __call__(self, *args: Any, **kwargs: Any) -> pykka.Future[Any]:
        message = ProxyCall(attr_path=self._path, args=args, kwargs=kwargs)
        return self._ref.ask(message, block=False)

    def __repr__(self) -> str:
        return f"<Remote {'.'.join(self._path) or 'actor'} of {self._ref}>"
