"""Compression: pruning (unstructured, blocks, structured channels, gradual with
fine-tuning) and post-training int8 quantization with a per-layer sensitivity report."""
from .fit import BudgetError, FitResult, fit
from .half import half
from .prune import GradualPruning, masks_of, prune, sparsity_of
from .quantize import LayerSensitivity, fold_batchnorm, precision_of, quantize, sensitivity

__all__ = ["BudgetError", "FitResult", "GradualPruning", "LayerSensitivity", "fit", "fold_batchnorm", "half", "masks_of", "precision_of", "prune", "quantize",
           "sensitivity", "sparsity_of"]
