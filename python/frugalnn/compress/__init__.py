"""Compression: pruning (unstructured, blocks, structured channels, gradual with
fine-tuning), post-training int8 quantization with a per-layer sensitivity report, and
quantization-aware training (fake-quant fine-tuning) for when PTQ loses too much."""
from .prune import GradualPruning, masks_of, prune, sparsity_of
from .qat import qat
from .quantize import LayerSensitivity, fold_batchnorm, precision_of, quantize, sensitivity

__all__ = ["GradualPruning", "LayerSensitivity", "fold_batchnorm", "masks_of", "precision_of", "prune", "qat",
           "quantize", "sensitivity", "sparsity_of"]
