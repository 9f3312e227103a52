"""Where the dense reference renderer lived in 0.1/0.2, re-exported: it is ``spirograph.generators.spirograph.dense``."""

from .generators.spirograph.dense import render_dense

__all__ = ["render_dense"]
