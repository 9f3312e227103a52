"""The encoder contract: loading, checking and the harness's own reference encoders.

An encoder is any callable that maps a float image batch (B, 3, R, R) on the scoring device to
features (B, D). The harness knows nothing about how it was trained; it only checks the contract
on a small fixed batch before scoring, so a broken encoder fails in a second with one clear error.
"""

from __future__ import annotations

import abc
import difflib
import hashlib
import importlib
import importlib.util
import os
import re
import sys
import types
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from .._torchfile import check_torch_file
from .._validate import bad_value, check_int, first_line, unknown_name

CHECK_ITEMS = 16  # images in the contract check batch
CHECK_STREAM = "check"
_REPEAT_TOLERANCE = 1e-5  # relative; exact on CPU, leaves room for non-deterministic GPU kernels
_BATCH_TOLERANCE = 1e-4  # relative; different batch sizes may take different BLAS paths


class EncoderError(ValueError):
    """The encoder broke the contract (raised, wrong shape, non-finite, not repeatable)."""


class FactorEncoder(abc.ABC):
    """Base class for reference encoders that read the true factors instead of images.

    The harness calls ``encode_factors(content, nuisance)`` with column tensors (B, n_content) and
    (B, n_nuisance) instead of rendering images. Only the oracle uses it.
    """

    @abc.abstractmethod
    def encode_factors(self, content: torch.Tensor, nuisance: torch.Tensor) -> torch.Tensor:
        """Features (B, D) from content (B, n_content) and nuisance (B, n_nuisance)."""


class Oracle(FactorEncoder):
    """Ceiling reference: returns the true content factors, so a linear probe is exact."""

    def encode_factors(self, content: torch.Tensor, nuisance: torch.Tensor) -> torch.Tensor:
        """Return ``content`` (B, n_content) as features."""
        return content.clone()


class Pixels(nn.Module):
    """Linear-baseline reference: the raw pixels, flattened to (B, 3·R·R)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1)


class RandomConvNet(nn.Module):
    """Floor reference: a randomly initialised small ConvNet, 3 conv layers 32-64-128 with pooling.

    Each 3×3 conv is followed by ReLU and 2×2 max-pooling (the last by global average pooling), so
    features are 128-d. Weights are drawn from an explicit generator: the same ``seed`` gives the
    same network on every machine.

    Args:
        seed: seed of the initialisation.
        widths: output channels of the three conv layers.
    """

    def __init__(self, seed: int = 0, widths: tuple[int, int, int] = (32, 64, 128)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for i, width in enumerate(widths):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            layers.append(nn.MaxPool2d(2) if i < len(widths) - 1 else nn.AdaptiveAvgPool2d(1))
            channels = width
        self.net = nn.Sequential(*layers, nn.Flatten())
        generator = torch.Generator().manual_seed(check_int("seed", seed, 0))
        for module in self.net:
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_uniform_(module.weight, nonlinearity="relu", generator=generator)
                nn.init.uniform_(module.bias, -0.01, 0.01, generator=generator)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


REFERENCES: dict[str, Callable[[], Any]] = {
    "oracle": Oracle,
    "pixels": Pixels,
    "random-convnet": RandomConvNet,
}
"""Reference encoders the harness scores itself: ceiling, linear baseline and floor."""

REFERENCE_DISCLOSURES: dict[str, dict[str, Any]] = {
    "oracle": {"uses_nuisance_labels": False, "test_time_passes": 1, "training": "none: returns the true content factors (ceiling)"},
    "pixels": {"uses_nuisance_labels": False, "test_time_passes": 1, "training": "none: raw pixels (linear baseline)"},
    "random-convnet": {
        "uses_nuisance_labels": False, "test_time_passes": 1,
        "training": "none: random initialisation, seed 0 (floor: what training must beat)",
    },
}


def reference_encoder(name: str) -> Any:
    """A fresh reference encoder by name (``oracle``, ``pixels``, ``random-convnet``).

    Raises:
        ValueError: unknown name, with a did-you-mean suggestion.
    """
    if name not in REFERENCES:
        raise unknown_name("reference encoder", name, REFERENCES)
    return REFERENCES[name]()


def default_entry_name(spec: str) -> str:
    """The entry name of ``--encoder SPEC`` without ``--name``: module or file stem, a dot, the callable.

    ``mypackage.models:build_encoder`` -> ``mypackage.models.build_encoder``; ``./dir/my_encoder.py:build``
    -> ``my_encoder.build``: a reader can tell entries of different files apart.
    """
    source, _, attribute = str(spec).rpartition(":")
    stem = Path(source).stem if _is_file_spec(source) else source
    return f"{stem}.{attribute}" if stem else attribute


def load_encoder(spec: str, weights: str | os.PathLike | None = None) -> Any:
    """Build an encoder from ``MODULE:CALLABLE`` or ``FILE.py:CALLABLE`` and optionally load weights.

    ``MODULE`` is imported from the import path (an installed package, or a folder on
    ``PYTHONPATH``; the ``spirograph`` command does not put the current folder on it).
    ``FILE.py`` is a path to a Python file, loaded as a module under its own name with its folder
    put at the front of the import path, as ``python FILE.py`` would, so it can import its
    neighbours. ``CALLABLE`` is called without arguments and must return the encoder. Weights
    load with ``torch.load(weights_only=True)`` onto the CPU: a state dict, or a mapping holding
    one under ``"state_dict"``.

    Raises:
        ValueError: a malformed spec, a module, file or callable that does not exist (did-you-mean
            over the callables the module defines), a builder that raises or returns a
            non-callable, weights for a non-Module encoder or weights whose keys or shapes do not match.
        OSError: a weights file that does not exist or does not load.
    """
    allowed = "MODULE:CALLABLE or FILE.py:CALLABLE, e.g. 'mypackage.models:build_encoder' or 'models/my_encoder.py:build'"
    if not isinstance(spec, str):
        raise bad_value("encoder", spec, allowed)
    source, _, attribute = spec.rpartition(":")
    if not source or not attribute.isidentifier() or (not _is_file_spec(source) and ":" in source):
        raise bad_value("encoder", spec, allowed)
    module = _load_file(spec, source) if _is_file_spec(source) else _import_module(spec, source)
    builder = getattr(module, attribute, None)
    if builder is None or not callable(builder):
        defined = defined_callables(module)
        close = difflib.get_close_matches(attribute, defined, n=1)
        hint = f" did you mean {close[0]!r}?" if close else ""
        listing = f"callables defined in it: {', '.join(defined)}" if defined else "it defines no callables"
        kind = "" if builder is None else f" ({attribute} is a {type(builder).__name__})"
        raise ValueError(f"encoder={spec!r}: {source!r} has no callable {attribute!r}{kind};{hint} {listing}")
    try:
        encoder = builder()
    except Exception as err:  # a user's builder may raise anything: report it as one line
        raise EncoderError(f"building the encoder with {spec}() raised {type(err).__name__}: {first_line(err)}") from err
    if not callable(encoder):
        raise bad_value("encoder", spec, f"a builder returning a callable encoder, got {type(encoder).__name__}")
    if weights is not None:
        load_weights(encoder, weights)
    return encoder


def defined_callables(module: types.ModuleType) -> list[str]:
    """Public functions and classes defined in ``module`` itself (not the names it imported), sorted."""
    return sorted(
        name for name, value in vars(module).items()
        if not name.startswith("_") and callable(value) and getattr(value, "__module__", None) == module.__name__
    )


def _is_file_spec(source: str) -> bool:
    return source.endswith(".py") or "/" in source or os.sep in source


def _import_module(spec: str, module_name: str) -> types.ModuleType:
    try:
        return importlib.import_module(module_name)
    except (ImportError, TypeError) as err:  # TypeError: a relative name such as '..x'
        hint = ""
        local = Path(module_name.replace(".", os.sep) + ".py")
        if local.is_file():
            # The console script's import path does not hold the current folder: say how to load it.
            hint = f"; {str(local)!r} is in the current folder, which is not on the import path: pass --encoder {local}:{spec.rpartition(':')[2]}"
        raise bad_value("encoder", spec, f"an importable module (importing {module_name!r} failed: {first_line(err)}){hint}") from None


def _load_file(spec: str, source: str) -> types.ModuleType:
    path = Path(source).expanduser()
    if path.suffix != ".py":
        raise bad_value("encoder", spec, "FILE.py:CALLABLE with a path ending in .py, or MODULE:CALLABLE")
    if not path.is_file():
        raise bad_value("encoder", spec, f"an existing Python file (no file {str(path)!r})")
    path = path.resolve()
    # A private, path-derived module name: never shadows an installed module of the same stem.
    digest = hashlib.sha256(str(path).encode("utf-8")).hexdigest()[:12]
    name = f"spirograph_user_encoder_{re.sub(r'[^0-9a-zA-Z_]', '_', path.stem)}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:  # pragma: no cover - a .py file always has a loader
        raise bad_value("encoder", spec, "a Python source file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as err:  # user code: report its failure as one line
        del sys.modules[name]
        raise bad_value("encoder", spec, f"a file that runs (loading {str(path)!r} raised {type(err).__name__}: {first_line(err)})") from None
    return module


def load_weights(encoder: Any, weights: str | os.PathLike) -> None:
    """Load a state dict from ``weights`` into the ``nn.Module`` ``encoder`` (strict keys and shapes).

    Raises:
        ValueError: ``encoder`` is not an ``nn.Module``, the file is damaged (a zip member fails its
            CRC-32), or the state dict does not match it.
        OSError: the file is missing or cannot be loaded with ``weights_only=True``.
    """
    if not isinstance(encoder, nn.Module):
        raise bad_value("weights", str(weights), f"weights only for an nn.Module encoder, got {type(encoder).__name__}")
    if isinstance(weights, bytes) or not isinstance(weights, (str, os.PathLike)):
        raise bad_value("weights", weights, "a file path (str or os.PathLike)")
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file {path!r} does not exist")
    check_torch_file(path, argument="weights")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and unpickler errors have many types
        raise OSError(f"weights file {path!r} does not load with torch.load(weights_only=True): {type(err).__name__}: {first_line(err)}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise bad_value("weights", path, "a file holding a state dict (name -> tensor)")
    try:
        encoder.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise bad_value("weights", path, f"a state dict matching the encoder ({' '.join(line.strip() for line in first[:3])})") from None


def parameter_count(encoder: Any) -> int | None:
    """Number of parameters of an ``nn.Module`` encoder; ``None`` for other callables."""
    if isinstance(encoder, nn.Module):
        return int(sum(p.numel() for p in encoder.parameters()))
    return None


def call_encoder(encoder: Any, images: torch.Tensor | None, content: torch.Tensor, nuisance: torch.Tensor, *, what: str) -> torch.Tensor:
    """Run ``encoder`` on one batch under ``torch.no_grad`` and check its output.

    Args:
        encoder: the encoder (a ``FactorEncoder`` reads ``content``/``nuisance`` instead of images).
        images: (B, 3, R, R) or ``None`` for a ``FactorEncoder``.
        content, nuisance: (B, n_content), (B, n_nuisance) factor columns of the batch.
        what: a description of the batch for error messages.

    Returns:
        Features (B, D) on the CPU: float64 if the encoder returned float64, else float32.

    Raises:
        EncoderError: the encoder raised, or returned something other than a finite floating
            tensor of shape (B, D).
    """
    batch = content.shape[0]
    try:
        with torch.no_grad():
            out = encoder.encode_factors(content, nuisance) if isinstance(encoder, FactorEncoder) else encoder(images)
    except Exception as err:  # the encoder is user code: any exception becomes one clear error
        raise EncoderError(f"the encoder raised {type(err).__name__} on {what}: {first_line(err)}") from err
    if not isinstance(out, torch.Tensor):
        raise EncoderError(f"the encoder returned {type(out).__name__} on {what}; expected a tensor of shape ({batch}, D)")
    if out.ndim != 2:
        raise EncoderError(f"the encoder returned shape {tuple(out.shape)} on {what}; expected 2-D features ({batch}, D)")
    if out.shape[0] != batch:
        raise EncoderError(f"the encoder returned {out.shape[0]} rows for a batch of {batch} on {what}; expected ({batch}, D)")
    if out.shape[1] < 1:
        raise EncoderError(f"the encoder returned shape {tuple(out.shape)} on {what}; expected at least one feature")
    if not out.is_floating_point():
        raise EncoderError(f"the encoder returned dtype {out.dtype} on {what}; expected floating features")
    # float64 features stay float64: the invariance statistics must not lose a large offset's digits.
    out = out.detach().to("cpu", torch.float64 if out.dtype == torch.float64 else torch.float32)
    if not torch.isfinite(out).all():
        bad = int((~torch.isfinite(out)).any(dim=1).sum())
        raise EncoderError(f"the encoder returned non-finite features (NaN or inf) for {bad} of {batch} images on {what}")
    return out


def check_encoder(encoder: Any, images: torch.Tensor | None, content: torch.Tensor, nuisance: torch.Tensor) -> int:
    """Check the contract on a small batch before scoring; return the feature dimension D.

    Checks the output of ``call_encoder`` twice on the same input (the features must repeat: no
    dropout or other randomness at test time) and once on the first half of the batch alone (an
    image's features must not depend on the rest of its batch: no BatchNorm in training mode).

    Args:
        images: (B, 3, R, R) check images (``None`` for a ``FactorEncoder``); B >= 2.
        content, nuisance: their factor columns.

    Raises:
        EncoderError: any contract violation, with what was expected.
    """
    first = call_encoder(encoder, images, content, nuisance, what="the check batch")
    second = call_encoder(encoder, images, content, nuisance, what="the check batch (second call)")
    if first.shape != second.shape or not _close(first, second, _REPEAT_TOLERANCE):
        raise EncoderError(
            "the encoder gave different features for the same images on two calls (dropout or other "
            "randomness at test time?); an encoder must be deterministic in evaluation"
        )
    half = content.shape[0] // 2
    part = call_encoder(
        encoder, None if images is None else images[:half], content[:half], nuisance[:half], what="half of the check batch"
    )
    if part.shape[1] != first.shape[1] or not _close(part, first[:half], _BATCH_TOLERANCE):
        raise EncoderError(
            "the encoder's features for an image depend on the other images in its batch (BatchNorm in "
            "training mode?); features must be computed per image"
        )
    return int(first.shape[1])


def _close(a: torch.Tensor, b: torch.Tensor, tolerance: float) -> bool:
    if a.shape != b.shape:
        return False
    scale = float(a.abs().max()) if a.numel() else 0.0
    return bool((a - b).abs().max() <= tolerance * (1.0 + scale))
