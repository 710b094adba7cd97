"""``fit``: the training loop over a Loader or (x, y) arrays, with validation, callbacks, a
progress bar and a History."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from ..graph.graph import Graph
from .callbacks import Callback
from .losses import Loss
from .optimizers import Optimizer
from .trainer import Trainer, TrainingDiverged

DEFAULT_BATCH = 32


@dataclass
class History:
    """Per-epoch figures of a fit: ``loss`` / ``accuracy`` (training, averaged over the
    epoch's steps), ``val_loss`` / ``val_accuracy`` (when validated), ``epoch_time`` (s) and
    ``lr`` (at the epoch's end). ``stopped_early``: a callback ended the fit."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    stopped_early: bool = False
    trainer: Optional[Trainer] = field(default=None, repr=False)

    @property
    def epochs(self) -> int:
        return len(self.loss)

    def as_dict(self) -> dict[str, list[float]]:
        return {k: list(getattr(self, k)) for k in ("loss", "accuracy", "val_loss", "val_accuracy",
                                                    "epoch_time", "lr")}


def _data(train_data: Any, batch_size: Optional[int], seed: Optional[int], shuffle: bool):
    from ..data import Loader

    if isinstance(train_data, Loader):
        if batch_size is not None and batch_size != train_data.batch_size:
            raise ValueError(f"batch_size={batch_size} but the Loader makes batches of {train_data.batch_size}")
        return train_data
    if not (isinstance(train_data, (tuple, list)) and len(train_data) == 2):
        raise TypeError("train_data must be a frugalnn.data.Loader or an (x, y) pair of numpy arrays")
    x, y = train_data
    return Loader(x, y, batch_size=DEFAULT_BATCH if batch_size is None else batch_size, shuffle=shuffle, seed=seed)


def _validation(validation: Any) -> Optional[tuple[np.ndarray, np.ndarray]]:
    if validation is None:
        return None
    from ..data import Loader

    if isinstance(validation, Loader):
        return validation.x, validation.y
    if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
        raise TypeError("validation must be an (x, y) pair of numpy arrays or a Loader")
    return validation[0], validation[1]


def _progress(total: int, desc: str, enabled: Optional[bool]):
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, leave=False, unit="batch")


def fit(graph: Graph, train_data: Any, epochs: int = 10, *, optimizer: Optional[Optimizer] = None,
        loss: Optional[Loss] = None, validation: Any = None, callbacks: Sequence[Callback] = (),
        seed: Optional[int] = None, batch_size: Optional[int] = None, masks: Optional[dict] = None,
        shuffle: bool = True, progress: Optional[bool] = None, max_batch: Optional[int] = None,
        budget: Optional[int] = None, fake_quant: bool = False) -> History:
    """Train ``graph`` in place on its own kernels and return the :class:`History`.

    Args:
        graph: a classifier graph (one input; one (classes,) output, a trailing Softmax is
            fine): its weights are trained in place and afterwards it compiles, saves and
            exports as before.
        train_data: a :class:`frugalnn.data.Loader`, or ``(x, y)``: float32 inputs (N x the
            graph's input shape) and integer class labels, batched with ``batch_size``
            (default 32) and shuffled with ``seed``.
        epochs: passes over the data.
        optimizer: default ``Adam()`` (lr 1e-3); loss: default ``CrossEntropy()``, or
            ``distillation(teacher, ...)``.
        validation: ``(x, y)`` evaluated after every epoch in inference mode.
        callbacks: e.g. ``[EarlyStopping(patience=3), Checkpoint("ckpt.npz")]``.
        seed: makes the run bit-identical when repeated (shuffle order and Dropout).
        masks: ``{layer or parameter name: 0/1 array}``: masked weights stay exactly zero.
        progress: a tqdm bar (default: when tqdm is installed and stderr is a terminal).
        max_batch: the trainer's planned batch (default: the batch size).
        budget: the most bytes training may take; a plan beyond it raises ``MemoryError``
            before the first step (``frugalnn.data.suggest_batch_size`` finds the batch).
        fake_quant: quantization-aware training of a graph from ``compress.quantize`` (see
            :class:`Trainer`; ``compress.qat`` wraps it).

    Raises ``TrainingDiverged`` naming the epoch and step if the loss turns NaN or infinite;
    the graph then holds the weights of the last completed epoch (or the initial ones).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                   or batch_size <= 0):
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    loader = _data(train_data, batch_size, seed, shuffle)
    val = _validation(validation)
    callbacks = list(callbacks)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be Callback objects, got {type(cb).__name__}")
    trainer = Trainer(graph, optimizer=optimizer, loss=loss, max_batch=max_batch or loader.batch_size,
                      masks=masks, seed=seed, budget=budget, fake_quant=fake_quant)
    # Labels outside the classes fail here, before any training (not at an epoch's end).
    for what, labels in (("train_data", getattr(loader, "y", None)), ("validation", None if val is None else val[1])):
        if labels is None:
            continue
        labels = trainer._labels(labels, len(labels))
        if len(labels) and (labels.min() < 0 or labels.max() >= trainer.classes):
            raise ValueError(f"{what}: labels must be class indices in [0, {trainer.classes}), got "
                             f"[{labels.min()}, {labels.max()}]")
    trainer.optimizer.steps_per_epoch = len(loader)
    hist = History(trainer=trainer)
    for cb in callbacks:
        cb.on_train_begin(trainer)
    good = trainer.state()
    try:
        for epoch in range(epochs):
            t0 = time.perf_counter()
            total, correct, seen = 0.0, 0, 0
            bar = _progress(len(loader), f"epoch {epoch + 1}/{epochs}", progress)
            try:
                for step, (xb, yb) in enumerate(loader):
                    try:
                        l, c = trainer.train_step(xb, yb)
                    except TrainingDiverged as e:
                        trainer.restore(good)
                        raise TrainingDiverged(f"the loss is not finite at epoch {epoch + 1}, step {step + 1}; "
                                               f"the weights are those of the end of epoch {epoch} "
                                               "(lower the learning rate?)") from e
                    total += l * len(xb)
                    correct += c
                    seen += len(xb)
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{total / seen:.4f}", acc=f"{correct / seen:.3f}")
            finally:
                if bar is not None:
                    bar.close()
            logs = {"loss": total / max(seen, 1), "accuracy": correct / max(seen, 1)}
            if val is not None:
                logs["val_loss"], logs["val_accuracy"] = trainer.evaluate(val[0], val[1])
            hist.loss.append(logs["loss"])
            hist.accuracy.append(logs["accuracy"])
            if val is not None:
                hist.val_loss.append(logs["val_loss"])
                hist.val_accuracy.append(logs["val_accuracy"])
            hist.lr.append(trainer.optimizer.lr)
            hist.epoch_time.append(time.perf_counter() - t0)
            good = trainer.state()
            stop = False
            for cb in callbacks:
                stop = bool(cb.on_epoch_end(epoch, logs, trainer)) or stop
            if stop:
                hist.stopped_early = True
                break
        for cb in callbacks:
            cb.on_train_end(trainer)
    finally:
        trainer.write_back()
    return hist
