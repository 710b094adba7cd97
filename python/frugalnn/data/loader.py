"""A batch loader that prefetches on a background thread into pooled, reused buffers.

``Loader(x, y)`` cuts ``(x, y)`` into batches: each epoch shuffles an index buffer in place
(seeded, so the same seed gives the same batches epoch after epoch), gathers the rows of a
batch into a pooled batch buffer with ``np.take(..., out=)``, and applies an in-place batch
transform (:mod:`frugalnn.data.transforms`). With ``prefetch=k`` a producer thread fills up to
``k`` buffers while the consumer trains on the previous batch (``k = 2`` is double buffering);
``prefetch=0`` fills each batch in the consumer's thread when it asks for it.

Batch buffers are reused. **A batch is valid until the consumer asks for the next one**: then
its buffer goes back to the ring and the producer overwrites it. Keep a batch longer with
``xb.copy()``. Everything is made at construction (buffers, index array, transform workspaces),
so after the first batches an epoch allocates nothing per batch.
"""
from __future__ import annotations

import numbers
import threading
import weakref
from typing import Any, Callable, Iterator, Optional, Union

import numpy as np

from ..memory import Pool, default_pool

__all__ = ["Loader"]

Batch = Union[np.ndarray, tuple[np.ndarray, np.ndarray]]

_END = -1  # slot status: the epoch is over
_ERROR = -2  # slot status: the producer failed; state.error holds the exception
_POLL = 0.05  # seconds between liveness checks while waiting on the other side


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    v = int(value)
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return v


class _Core:
    """What the producer thread needs: data, buffers, transform. It holds no reference to the
    Loader or its iterators, so dropping those shuts the thread down."""

    def __init__(self, x: np.ndarray, y: Optional[np.ndarray], batch_size: int, shuffle: bool,
                 slots: int, transform: Optional[Callable[[np.ndarray, np.random.Generator], None]],
                 drop_last: bool, pool: Pool) -> None:
        n = x.shape[0]
        self.x, self.y = x, y
        self.n, self.batch_size, self.shuffle, self.transform = n, batch_size, shuffle, transform
        self.num_batches = n // batch_size if drop_last else -(-n // batch_size)
        self.slots = slots
        self.pool = pool
        rows = min(batch_size, n)
        self.rows = rows
        self.index = pool.empty(n, np.intp)
        self.index[...] = np.arange(n, dtype=np.intp)
        self.xbufs = [pool.empty((rows,) + x.shape[1:], x.dtype) for _ in range(slots)]
        self.ybufs = [pool.empty((rows,) + y.shape[1:], y.dtype) for _ in range(slots)] if y is not None else []
        tail = n % batch_size if not drop_last else 0
        # The batches handed out: (x view, y view, the object returned), full and last partial.
        self.full: list[tuple[np.ndarray, Optional[np.ndarray], Batch]] = []
        self.last: list[tuple[np.ndarray, Optional[np.ndarray], Batch]] = []
        for i in range(slots):
            for rows_i, dest in ((rows, self.full), (tail or rows, self.last)):
                xv = self.xbufs[i][:rows_i]
                yv = self.ybufs[i][:rows_i] if y is not None else None
                dest.append((xv, yv, xv if yv is None else (xv, yv)))
        self.tail = tail

    def views(self, slot: int, b: int) -> tuple[np.ndarray, Optional[np.ndarray], Batch]:
        return (self.last if b == self.num_batches - 1 else self.full)[slot]

    def start_epoch(self, rng: np.random.Generator) -> None:
        if self.shuffle:
            self.index.sort()  # back to 0..n-1, so epoch e depends on (seed, e) only
            rng.shuffle(self.index)

    def fill(self, slot: int, b: int, rng: np.random.Generator) -> Batch:
        xv, yv, out = self.views(slot, b)
        start = b * self.batch_size
        stop = start + xv.shape[0]
        if self.shuffle:
            idx = self.index[start:stop]
            np.take(self.x, idx, axis=0, out=xv, mode="clip")  # indices are in range: no check copy
            if yv is not None:
                np.take(self.y, idx, axis=0, out=yv, mode="clip")
        else:
            np.copyto(xv, self.x[start:stop])
            if yv is not None:
                np.copyto(yv, self.y[start:stop])
        if self.transform is not None:
            self.transform(xv, rng)
        return out


class _EpochState:
    """Synchronisation between one epoch's producer and consumer: per slot, a ``free`` lock
    (held while the slot is being filled or waits for the consumer) and a ``ready`` lock
    (released by the producer when the slot holds a batch). Plain locks only: acquiring and
    releasing an existing lock allocates nothing, unlike Condition / Queue waits."""

    def __init__(self, slots: int) -> None:
        self.free = [threading.Lock() for _ in range(slots)]
        self.ready = [threading.Lock() for _ in range(slots)]
        for lock in self.ready:
            lock.acquire()
        self.status = [0] * slots
        self.stop = False
        self.error: Optional[BaseException] = None


def _produce(core: _Core, state: _EpochState, rng: np.random.Generator) -> None:
    slots = core.slots
    slot = 0
    try:
        core.start_epoch(rng)
        for b in range(core.num_batches + 1):
            slot = b % slots
            free = state.free[slot]
            while not free.acquire(True, _POLL):
                if state.stop:
                    return
            if state.stop:
                return
            if b == core.num_batches:
                state.status[slot] = _END
            else:
                core.fill(slot, b, rng)
                state.status[slot] = b
            state.ready[slot].release()
    except BaseException as e:  # surfaced in the consumer, never lost in this thread
        state.error = e
        state.status[slot] = _ERROR
        if state.ready[slot].locked():
            state.ready[slot].release()


def _epoch_rng(entropy: Any, epoch: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy, spawn_key=(epoch,))))


class _LoaderIterator:
    """One epoch over a Loader (what ``iter(loader)`` returns)."""

    def __init__(self, loader: "Loader", epoch: int) -> None:
        self._loader = loader  # keeps `for b in Loader(...)` alive; the Loader only has a weakref back
        core = loader._core
        assert core is not None
        self._core = core
        self.epoch = epoch
        self._rng = _epoch_rng(loader._entropy, epoch)
        self._next = 0
        self._held: Optional[int] = None
        self._done = False
        self._superseded = False
        self._step_pool = core.pool.predictor is not None
        self._state: Optional[_EpochState] = None
        self._thread: Optional[threading.Thread] = None
        if loader.prefetch == 0:
            core.start_epoch(self._rng)
        else:
            self._state = _EpochState(core.slots)
            self._thread = threading.Thread(
                target=_produce, args=(core, self._state, self._rng),
                name=f"frugalnn-loader-epoch-{epoch}", daemon=True)
            self._thread.start()

    def __iter__(self) -> "_LoaderIterator":
        return self

    def __len__(self) -> int:
        return self._core.num_batches - self._next

    def __next__(self) -> Batch:
        if self._done:
            if self._superseded:
                raise RuntimeError(
                    "this pass over the Loader was ended by a newer one: a Loader's passes share "
                    "its batch buffers, so only the latest iter(loader) runs")
            raise StopIteration
        if self._step_pool and self._next > 0:
            self._core.pool.step()
        st = self._state
        if st is None:  # prefetch=0: fill in this thread
            b = self._next
            if b == self._core.num_batches:
                self.close()
                raise StopIteration
            self._next += 1
            try:
                return self._core.fill(0, b, self._rng)
            except BaseException:
                self.close()
                raise
        if self._held is not None:
            st.free[self._held].release()  # the previous batch goes back to the ring
            self._held = None
        slot = self._next % self._core.slots
        ready = st.ready[slot]
        while not ready.acquire(True, _POLL):
            thread = self._thread
            if thread is None or not thread.is_alive():
                if ready.acquire(False):  # it published on its way out
                    break
                self.close()
                raise RuntimeError("the Loader's producer thread ended without a batch")
        status = st.status[slot]
        if status == _END:
            self.close()
            raise StopIteration
        if status == _ERROR:
            err = st.error
            st.error = None
            b = self._next
            self.close()
            assert err is not None
            if hasattr(err, "add_note"):
                err.add_note(f"(raised in the frugalnn Loader's producer thread while filling batch {b} "
                             f"of epoch {self.epoch})")
            raise err
        self._held = slot
        self._next += 1
        return self._core.views(slot, status)[2]

    def close(self) -> None:
        """Stop this pass: the producer thread is told to stop and joined."""
        self._done = True
        st, thread = self._state, self._thread
        self._held = None
        if st is None:
            return
        st.stop = True
        for lock in st.free:  # wake a producer waiting for a slot
            if lock.locked():
                try:
                    lock.release()
                except RuntimeError:
                    pass
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
            if thread.is_alive():  # a transform that never returns: cannot reuse buffers safely
                raise RuntimeError("the Loader's producer thread did not stop within 30 s")
        self._thread = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class Loader:
    """Batches of ``(x, y)`` with seeded shuffling, in-place transforms and prefetching.

    Iterating yields ``(xb, yb)`` (or ``xb`` when ``y`` is None): numpy views of pooled batch
    buffers. **A batch is valid until the next one is asked for**: its buffer then goes back to
    the ring and is overwritten; ``xb.copy()`` keeps one. Each ``iter(loader)`` is one epoch;
    starting a new one ends the previous pass (they share buffers). Breaking out of a loop,
    dropping the iterator, :meth:`close` or leaving a ``with`` block stops the producer thread.

    Args:
        x: float32 samples, first axis the sample axis (images NCHW for the transforms). Not
            cast: convert once with ``x.astype(np.float32)``. Must be finite.
        y: labels or targets with ``len(y) == len(x)`` (numeric; float labels must not be NaN),
            or None.
        batch_size: samples per batch.
        shuffle: shuffle the sample order every epoch.
        prefetch: batch buffers filled ahead on a background thread (2: double buffering);
            0 fills each batch in the consumer's thread when it is asked for.
        transform: ``t(xb, rng) -> None``, applied in place to every batch (see
            :mod:`frugalnn.data.transforms`); ``rng`` is the loader's seeded generator.
        drop_last: drop the last batch if it is smaller than ``batch_size``.
        seed: seed of the shuffle and transform randomness; epoch ``e`` uses a generator
            derived from ``(seed, e)``, so the same seed gives the same batches in the same
            order. ``None`` draws fresh entropy once, at construction.
        pool: the :class:`~frugalnn.Pool` for the batch buffers (default: the default pool).
            If it has a demand predictor, the loader calls ``pool.step()`` each time the next
            batch is asked for (one step per batch).
    """

    def __init__(
        self,
        x: np.ndarray,
        y: Optional[np.ndarray] = None,
        batch_size: int = 32,
        *,
        shuffle: bool = True,
        prefetch: int = 2,
        transform: Optional[Callable[[np.ndarray, np.random.Generator], None]] = None,
        drop_last: bool = False,
        seed: Optional[int] = None,
        pool: Optional[Pool] = None,
    ) -> None:
        self._core: Optional[_Core] = None
        self._active: Optional[weakref.ref[_LoaderIterator]] = None
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x must be a numpy array, got {type(x).__name__}")
        if x.dtype != np.float32:
            raise TypeError(
                f"x must be float32, got {x.dtype}: the loader does not cast implicitly; "
                "convert once with x.astype(np.float32)")
        if x.ndim == 0:
            raise ValueError("x must have a sample axis, got a 0-d array")
        if x.shape[0] == 0:
            raise ValueError(f"x is empty (shape {x.shape}): there is nothing to load")
        if y is not None:
            if not isinstance(y, np.ndarray):
                raise TypeError(f"y must be a numpy array or None, got {type(y).__name__}")
            if y.ndim == 0:
                raise ValueError("y must have a sample axis, got a 0-d array")
            if y.dtype.kind not in "biuf":
                raise TypeError(f"y must hold numbers (bool, int or float), got dtype {y.dtype}")
            if y.shape[0] != x.shape[0]:
                raise ValueError(f"x and y have different lengths: {x.shape[0]} samples and {y.shape[0]} labels")
            if y.dtype.kind == "f" and y.size and np.isnan(y.max()):
                bad = int(np.flatnonzero(np.isnan(y.reshape(y.shape[0], -1)).any(axis=1))[0])
                raise ValueError(f"y holds NaN (first at sample {bad}): float labels must be numbers")
        batch_size = _check_int("batch_size", batch_size, 1)
        prefetch = _check_int("prefetch", prefetch, 0)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle must be a bool, got {type(shuffle).__name__}")
        if not isinstance(drop_last, (bool, np.bool_)):
            raise TypeError(f"drop_last must be a bool, got {type(drop_last).__name__}")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable as t(xb, rng), got {type(transform).__name__}")
        if seed is not None:
            seed = _check_int("seed", seed, 0)
        if pool is None:
            pool = default_pool()
        elif not isinstance(pool, Pool):
            raise TypeError(f"pool must be a frugalnn.Pool or None, got {type(pool).__name__}")
        if drop_last and x.shape[0] < batch_size:
            raise ValueError(
                f"drop_last=True with {x.shape[0]} samples and batch_size={batch_size} leaves no batch")
        if x.size and not (np.isfinite(x.min()) and np.isfinite(x.max())):
            flat = x.reshape(x.shape[0], -1)
            bad = next(i for i in range(x.shape[0]) if not np.isfinite(flat[i]).all())
            raise ValueError(f"x holds NaN or infinity (first at sample {bad}); clean the data first")

        self.batch_size: int = batch_size
        self.num_samples: int = int(x.shape[0])
        self.shuffle = bool(shuffle)
        self.prefetch = prefetch
        self.drop_last = bool(drop_last)
        self.transform = transform
        self.seed = seed
        self._entropy = np.random.SeedSequence(seed).entropy
        self._epoch = 0
        num_batches = self.num_samples // batch_size if drop_last else -(-self.num_samples // batch_size)
        slots = max(1, min(prefetch, num_batches))
        self._core = _Core(x, y, batch_size, self.shuffle, slots, transform, self.drop_last, pool)
        prepare = getattr(transform, "prepare", None)
        if prepare is not None:
            prepare((self._core.rows,) + x.shape[1:])

    def __len__(self) -> int:
        """Batches per epoch."""
        if self._core is None:
            n = self.num_samples
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return self._core.num_batches

    @property
    def epoch(self) -> int:
        """The index of the next epoch ``iter(loader)`` starts."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter(loader)`` epoch ``epoch`` (e.g. to resume a run)."""
        self._epoch = _check_int("epoch", epoch, 0)

    @property
    def closed(self) -> bool:
        return self._core is None

    def __iter__(self) -> Iterator[Batch]:
        if self._core is None:
            raise RuntimeError("the Loader is closed")
        self._close_active(superseded=True)
        it = _LoaderIterator(self, self._epoch)
        self._epoch += 1
        self._active = weakref.ref(it)
        return it

    def _close_active(self, superseded: bool = False) -> None:
        it = self._active() if self._active is not None else None
        self._active = None
        if it is not None and not it._done:
            it._superseded = superseded
            it.close()

    def close(self) -> None:
        """Stop the producer thread and give the batch buffers back to the pool (batches
        still referenced stay valid until they die). Iterating afterwards raises."""
        self._close_active()
        self._core = None

    def __enter__(self) -> "Loader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self._close_active()
        except Exception:
            pass

    def __repr__(self) -> str:
        if not hasattr(self, "num_samples"):
            return "Loader(<not constructed>)"
        state = "closed" if self._core is None else f"{len(self)} batches"
        return (f"Loader({self.num_samples} samples, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, prefetch={self.prefetch}, {state})")
