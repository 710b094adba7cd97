"""Independent evaluations of a search (the compression searches' candidates) on a cluster."""
from __future__ import annotations

from typing import Any, Callable, Sequence, TypeVar

__all__ = ["check_client", "map_shared", "share"]

T = TypeVar("T")
R = TypeVar("R")


def check_client(client: Any) -> None:
    """TypeError unless ``client`` can scatter, map, gather and cancel (a distributed.Client)."""
    for method in ("scatter", "map", "gather", "cancel"):
        if not callable(getattr(client, method, None)):
            raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")


def share(client: Any, obj: Any) -> Any:
    """``obj`` on every worker of ``client``, once: a Future to pass to :func:`map_shared` as
    ``shared`` for as many rounds of calls as read it (released when the Future is dropped)."""
    check_client(client)
    # In a list: scatter takes a dict or a sequence as many objects, one key each.
    return client.scatter([obj], broadcast=True, hash=False)[0]


def map_shared(client: Any, fn: Callable[[Any, T], R], shared: Any, items: Sequence[T]) -> list[R]:
    """``[fn(shared, item) for item in items]``, the calls spread over ``client``'s workers.

    ``shared`` (the models and data every call reads) is scattered once, to every worker,
    instead of travelling with each call (or is the Future :func:`share` gave, for a search
    that calls this round after round); ``fn`` must be a module-level function (workers
    import it). Results come back in the order of ``items``; the first call that raised
    raises here, with its own exception. ``client=None`` runs the calls here, in order.
    """
    if client is None:
        return [fn(shared, item) for item in items]
    check_client(client)
    if not items:
        return []
    from distributed import Future

    scattered = not isinstance(shared, Future)
    handle = share(client, shared) if scattered else shared
    futures = client.map(fn, [handle] * len(items), list(items), pure=False)
    try:
        return client.gather(futures)
    finally:
        client.cancel(futures + ([handle] if scattered else []))
