"""Compression: pruning (unstructured, blocks, structured channels, gradual with
fine-tuning), post-training int8 quantization with a per-layer sensitivity report,
quantization-aware training (fake-quant fine-tuning) for when PTQ loses too much, k-means
codebook (non-uniform) weights, 16-bit weights, fitting a memory budget, and the measured
report of the variants."""
from .codebook import Codebook, codebook
from .fit import BudgetError, FitResult, fit
from .half import half
from .prune import GradualPruning, masks_of, prune, sparsity_of
from .qat import qat
from .quantize import LayerSensitivity, fold_batchnorm, precision_of, quantize, sensitivity
from .report import ReportRow, Variant, report

__all__ = ["BudgetError", "Codebook", "FitResult", "GradualPruning", "LayerSensitivity", "ReportRow", "Variant",
           "codebook", "fit", "fold_batchnorm", "half", "masks_of", "precision_of", "prune", "qat", "quantize",
           "report", "sensitivity", "sparsity_of"]
