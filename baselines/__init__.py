"""Contrastive baselines for the Spirograph benchmark: SimCLR, InvCLR, CLeVER, Invariance Propagation."""
