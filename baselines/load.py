"""Rebuild a trained encoder from a ``spirograph-train`` run directory, for scoring or reuse."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from spirograph._torchfile import check_torch_file
from spirograph._validate import bad_value, first_line

from .checkpoint import CONFIG_FILE, ENCODER_FILE
from .encoders import build_encoder


def load_encoder(run_dir: str | os.PathLike, *, device: str | torch.device = "cpu") -> nn.Module:
    """The trained encoder of a finished run, in eval mode (images (B, 3, R, R) → features (B, d)).

    Args:
        run_dir: a directory written by ``spirograph-train`` (``config.json`` and ``encoder.pt``).
        device: where to put the module.

    Returns:
        The encoder ``nn.Module`` with the run's weights (loaded with ``weights_only=True``).

    Raises:
        ValueError: not a path or not a run directory, training not finished, damaged weights (a zip member fails its
            CRC-32), or weights that do not fit.
    """
    if isinstance(run_dir, bytes) or not isinstance(run_dir, (str, os.PathLike)):
        raise bad_value("run_dir", run_dir, "a spirograph-train run directory path (str or os.PathLike)")
    path = Path(run_dir)
    config_path, weights_path = path / CONFIG_FILE, path / ENCODER_FILE
    if not config_path.is_file():
        raise bad_value("run_dir", str(run_dir), f"a spirograph-train run directory (no {CONFIG_FILE} there)")
    if not weights_path.is_file():
        raise bad_value("run_dir", str(run_dir), f"a finished run ({ENCODER_FILE} is written when training ends)")
    try:
        train = json.loads(config_path.read_text())["train"]
        encoder = build_encoder(train["encoder"], **train.get("encoder_kwargs", {}))
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise bad_value(str(config_path), type(err).__name__, "a readable run configuration") from None
    check_torch_file(weights_path, argument="weights")
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        encoder.load_state_dict(state)
    except Exception as err:  # torch raises several types for corrupt or mismatched files
        raise bad_value(str(weights_path), first_line(err)[:200], "the weights of this run's encoder") from None
    return encoder.to(device).eval()
