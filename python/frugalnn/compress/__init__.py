"""Compression: pruning (unstructured, blocks, structured channels, gradual with
fine-tuning), post-training int8 quantization with a per-layer sensitivity report, and
k-means codebook (non-uniform) weight quantization."""
from .codebook import Codebook, codebook
from .prune import GradualPruning, masks_of, prune, sparsity_of
from .quantize import LayerSensitivity, fold_batchnorm, precision_of, quantize, sensitivity

__all__ = ["Codebook", "GradualPruning", "LayerSensitivity", "codebook", "fold_batchnorm", "masks_of",
           "precision_of", "prune", "quantize", "sensitivity", "sparsity_of"]
