"""Contrastive baselines for the Spirograph benchmark: SimCLR, InvCLR, CLeVER, Invariance Propagation."""

import spirograph._startup  # noqa: F401, I001  (first: a command interrupted while torch imports says so in one line)

from .load import load_encoder

__all__ = ["load_encoder"]
