"""Contrastive baselines for the Spirograph benchmark: SimCLR, InvCLR, CLeVER, Invariance Propagation."""

from .load import load_encoder

__all__ = ["load_encoder"]
