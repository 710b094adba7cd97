"""Optimizers (torch.optim's update rules, on native kernels) and learning-rate schedules.

The trainer calls ``update(param)`` right after the backward of the op owning the parameter,
so a parameter's gradient lives only for that moment. ``Param.mask`` (pruned values) is
honoured by the kernels: masked values and their gradients are exactly zero and the state
there never moves.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np

from .. import _core
from .ops.base import Param


class Schedule:
    """A learning rate as a function of the step: ``lr(base, step, steps_per_epoch)``."""

    def lr(self, base: float, step: int, steps_per_epoch: int) -> float:
        raise NotImplementedError


class StepLR(Schedule):
    """``base * gamma ** (epoch // step_size)``."""

    def __init__(self, step_size: int, gamma: float = 0.1) -> None:
        if not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"step_size must be a positive int (epochs), got {step_size!r}")
        self.step_size, self.gamma = step_size, float(gamma)

    def lr(self, base, step, steps_per_epoch):
        return base * self.gamma ** ((step // max(steps_per_epoch, 1)) // self.step_size)


class CosineLR(Schedule):
    """Cosine decay from ``base`` to ``min_lr`` over ``epochs`` epochs (then ``min_lr``)."""

    def __init__(self, epochs: float, min_lr: float = 0.0) -> None:
        if not epochs > 0:
            raise ValueError(f"epochs must be positive, got {epochs!r}")
        self.epochs, self.min_lr = float(epochs), float(min_lr)

    def lr(self, base, step, steps_per_epoch):
        t = min(step / (self.epochs * max(steps_per_epoch, 1)), 1.0)
        return self.min_lr + (base - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * t))


class Warmup(Schedule):
    """Linear warm-up over ``epochs`` (fractions allowed), then ``then`` (or constant),
    counted from the end of the warm-up."""

    def __init__(self, epochs: float = 1.0, then: Optional[Schedule] = None) -> None:
        if not epochs > 0:
            raise ValueError(f"epochs must be positive, got {epochs!r}")
        self.epochs, self.then = float(epochs), then

    def lr(self, base, step, steps_per_epoch):
        warm = max(1, round(self.epochs * max(steps_per_epoch, 1)))
        if step < warm:
            return base * (step + 1) / warm
        return base if self.then is None else self.then.lr(base, step - warm, steps_per_epoch)


class Optimizer:
    """Base class: ``lr`` (current), ``base_lr``, an optional :class:`Schedule`."""

    state_names: tuple[str, ...] = ()

    def __init__(self, lr: float, weight_decay: float, schedule: Optional[Schedule]) -> None:
        for name, v in (("lr", lr), ("weight_decay", weight_decay)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a non-negative finite number, got {v!r}")
        if schedule is not None and not isinstance(schedule, Schedule):
            raise TypeError(f"schedule must be a Schedule, got {type(schedule).__name__}")
        self.base_lr = self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.schedule = schedule
        self.steps_per_epoch = 1
        self.t = 0
        self._params: list[Param] = []
        self._config: Any = None  # the native kernel's hyper-parameters (subclasses)

    def bind(self, params: Sequence[Param]) -> None:
        """Make the state of each parameter (zeros), once."""
        self._params = list(params)
        for p in self._params:
            for name in self.state_names:
                if name not in p.state:
                    p.state[name] = np.zeros_like(p.value)

    def state_bytes(self) -> int:
        return sum(a.nbytes for p in self._params for a in p.state.values())

    def start_step(self, step: int) -> None:
        """Before the updates of step ``step`` (0-based): the scheduled learning rate."""
        self.t = step + 1
        if self.schedule is not None:
            self.lr = self.schedule.lr(self.base_lr, step, self.steps_per_epoch)
        if self._config is not None:
            self._config.lr = self.lr

    def update(self, p: Param) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """SGD with momentum / Nesterov and (L2) weight decay, as torch.optim.SGD."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, schedule: Optional[Schedule] = None) -> None:
        super().__init__(lr, weight_decay, schedule)
        if not (0.0 <= momentum < 1.0):
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if nesterov and momentum == 0:
            raise ValueError("nesterov needs a momentum")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self.state_names = ("velocity",) if momentum else ()
        self._config = _core.SgdConfig(lr=self.lr, momentum=self.momentum, nesterov=self.nesterov,
                                       weight_decay=self.weight_decay)

    def update(self, p: Param) -> None:
        _core.sgd_update(p.value, p.grad, p.state.get("velocity"), p.mask, self._config)


class Adam(Optimizer):
    """Adam (``weight_decay`` as L2 on the gradient), as torch.optim.Adam."""

    decoupled = False
    state_names = ("m", "v")

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, schedule: Optional[Schedule] = None) -> None:
        super().__init__(lr, weight_decay, schedule)
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"betas must be in [0, 1), got {betas!r}")
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps!r}")
        self.beta1, self.beta2, self.eps = float(b1), float(b2), float(eps)
        self._config = _core.AdamConfig(lr=self.lr, beta1=self.beta1, beta2=self.beta2, eps=self.eps,
                                        weight_decay=self.weight_decay, decoupled=self.decoupled)

    def start_step(self, step: int) -> None:
        super().start_step(step)
        self._config.step = self.t

    def update(self, p: Param) -> None:
        _core.adam_update(p.value, p.grad, p.state["m"], p.state["v"], p.mask, self._config)


class AdamW(Adam):
    """Adam with decoupled weight decay, as torch.optim.AdamW (default decay 0.01)."""

    decoupled = True

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01, schedule: Optional[Schedule] = None) -> None:
        super().__init__(lr, betas, eps, weight_decay, schedule)
