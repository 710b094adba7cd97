"""Compression: pruning (unstructured, blocks, structured channels, gradual with
fine-tuning)."""
from .prune import GradualPruning, masks_of, prune, sparsity_of

__all__ = ["GradualPruning", "masks_of", "prune", "sparsity_of"]
