"""Callbacks the fit loop calls after every epoch: early stopping and checkpoints."""
from __future__ import annotations

import math
import os
from typing import Any, Optional



class Callback:
    """``on_epoch_end(epoch, logs, trainer)`` after each epoch (logs: this epoch's figures);
    returning True stops training. ``on_train_end(trainer)`` once at the end."""

    def on_train_begin(self, trainer: Any) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict[str, float], trainer: Any) -> bool:
        return False

    def on_train_end(self, trainer: Any) -> None:
        pass


def _better(mode: str, monitor: str) -> str:
    if mode == "auto":
        return "max" if "acc" in monitor else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    return mode


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs;
    ``restore_best`` puts back the weights of the best epoch."""

    def __init__(self, monitor: str = "val_loss", patience: int = 3, min_delta: float = 0.0,
                 mode: str = "auto", restore_best: bool = True) -> None:
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"patience must be a non-negative int, got {patience!r}")
        self.monitor, self.patience, self.min_delta = monitor, patience, float(min_delta)
        self.mode = _better(mode, monitor)
        self.restore_best = restore_best

    def on_train_begin(self, trainer):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = -1
        self.wait = 0
        self._state: Optional[dict] = None
        self.stopped_epoch: Optional[int] = None

    def on_epoch_end(self, epoch, logs, trainer):
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping monitors '{self.monitor}', which this fit does not report "
                             f"(it reports {sorted(logs)}; 'val_*' needs validation=...)")
        v = logs[self.monitor]
        improved = v < self.best - self.min_delta if self.mode == "min" else v > self.best + self.min_delta
        if improved:
            self.best, self.best_epoch, self.wait = v, epoch, 0
            if self.restore_best:
                self._state = trainer.state()
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, trainer):
        if self.restore_best and self._state is not None:
            trainer.restore(self._state)


class Checkpoint(Callback):
    """Save the graph's weights (``save_weights``, an .npz) after each epoch, or only when
    ``monitor`` improves (``save_best_only``). ``path`` may hold ``{epoch}``."""

    def __init__(self, path: str, monitor: str = "val_loss", save_best_only: bool = False,
                 mode: str = "auto") -> None:
        self.path, self.monitor, self.save_best_only = os.fspath(path), monitor, save_best_only
        self.mode = _better(mode, monitor)
        self.saved: list[str] = []

    def on_train_begin(self, trainer):
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs, trainer):
        if self.save_best_only:
            if self.monitor not in logs:
                raise ValueError(f"Checkpoint monitors '{self.monitor}', which this fit does not report")
            v = logs[self.monitor]
            if not (v < self.best if self.mode == "min" else v > self.best):
                return False
            self.best = v
        from .weights import save_weights

        trainer.write_back()
        path = self.path.format(epoch=epoch + 1)
        save_weights(trainer.graph, path)
        self.saved.append(path)
        return False
