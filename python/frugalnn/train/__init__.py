"""Training on frugalnn's own kernels: backward passes, optimizers, losses (distillation),
the fit loop, and training memory planned like inference memory."""
from .callbacks import Callback, Checkpoint, EarlyStopping
from .fit import History, fit
from .losses import CrossEntropy, Distillation, Loss, distillation
from .optimizers import SGD, Adam, AdamW, CosineLR, Optimizer, Schedule, StepLR, Warmup
from .trainer import Trainer, TrainingDiverged, TrainingMemoryReport
from .weights import load_weights, save_weights, weights_of

__all__ = [
    "Adam", "AdamW", "Callback", "Checkpoint", "EarlyStopping", "History", "fit", "load_weights", "save_weights", "weights_of", "CosineLR", "CrossEntropy", "Distillation", "Loss", "Optimizer", "SGD", "Schedule",
    "StepLR", "Trainer", "TrainingDiverged", "TrainingMemoryReport", "Warmup", "distillation",
]
