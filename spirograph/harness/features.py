"""Features of a frozen encoder on a suite's items: rendered in batches, computed once, reused.

Item i of split ``s`` has content item i of ``(seed, s)`` and, for nuisance draw j, nuisance item
i of ``(seed, f"{s}/nuisance/{j}")``. A shifted nuisance space reads the same per-item uniforms
mapped to its shifted ranges, so shift levels are paired: the same contents, and nuisance values
that move only by the shift. Every request is a prefix of the same items, so a task that needs
fewer items reuses the features another task already computed.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from tqdm import tqdm

from ..factors import FactorSpace
from ..generator import Spirograph
from .encoders import FactorEncoder, call_encoder
from .suites import Suite

Shift = tuple[str, str, float]
"""A nuisance shift ``(target, "mean" | "width", level)``; ``None`` means the unshifted space."""


class FeatureSource:
    """Renders a suite's items and encodes them, caching single-draw features per (split, draw, shift).

    Args:
        encoder: the (checked) encoder.
        suite: the evaluation suite (seed, sizes, rendering options, batch size).
        device: where images are rendered and the encoder runs.
        space: the unshifted factor space (default SPEC §1).
        progress: show a progress bar per image set.
    """

    def __init__(self, encoder: Any, suite: Suite, *, device: torch.device, space: FactorSpace | None = None, progress: bool = False) -> None:
        self.encoder = encoder
        self.suite = suite
        self.device = torch.device(device)
        self.space = space if space is not None else FactorSpace()
        self.progress = progress
        self.render_seconds = 0.0
        self.encode_seconds = 0.0
        self.images_encoded = 0
        self._generators: dict[Any, Spirograph] = {}
        self._cache: dict[tuple, torch.Tensor] = {}

    def generator(self, shift: Shift | None = None) -> Spirograph:
        """The ``Spirograph`` of the unshifted space, or of ``shift`` applied to it."""
        if shift not in self._generators:
            space = self.space
            if shift is not None:
                target, kind, level = shift
                space = space.shifted(target, mean_shift=level) if kind == "mean" else space.shifted(target, width_change=level)
            self._generators[shift] = Spirograph(space, device=self.device, **self.suite.render_options())
        return self._generators[shift]

    def content(self, split: str, n: int) -> torch.Tensor:
        """Content of items ``0 .. n-1`` of ``split``: float32 (n, n_content) on the CPU."""
        return self.generator().sample_content(n, seed=self.suite.seed, stream=split).cpu()

    def nuisance(self, split: str, n: int, *, draw: int = 0, shift: Shift | None = None) -> torch.Tensor:
        """Nuisance draw ``draw`` of items ``0 .. n-1``: float32 (n, n_nuisance) on the CPU."""
        return self.generator(shift).sample_nuisance(n, seed=self.suite.seed, stream=f"{split}/nuisance/{draw}").cpu()

    def features(self, split: str, n: int, *, draw: int = 0, shift: Shift | None = None, cache: bool = True) -> torch.Tensor:
        """Features of items ``0 .. n-1`` of ``split`` with nuisance draw ``draw`` (and ``shift``).

        Cached requests grow: asking for more items than before encodes only the missing ones.

        Returns:
            float32 (n, D) on the CPU.

        Raises:
            EncoderError: the encoder broke the contract on some batch.
        """
        key = (split, draw, shift)
        have = self._cache.get(key)
        done = 0 if have is None else have.shape[0]
        if done >= n:
            return have[:n]
        new = self._encode(split, done, n, draw=draw, shift=shift)
        out = new if have is None else torch.cat([have, new])
        if cache:
            self._cache[key] = out
        return out

    def averaged(self, split: str, n: int, draws: tuple[int, ...], *, conditional_variance: bool = False) -> tuple[dict[int, torch.Tensor], torch.Tensor | None]:
        """Features averaged over the first M nuisance draws, for each M in ``draws`` (SPEC §4).

        One pass over ``max(draws)`` draws; draw 0 comes from (and stays in) the cache, later draws
        are streamed. With ``conditional_variance`` it also returns, per item, the variance of the
        L2-normalised features over the draws (SPEC §5): the unbiased variance of each feature
        dimension, summed over dimensions, i.e. ``(Σ_j ‖ĥ_j‖² − ‖Σ_j ĥ_j‖²/M) / (M − 1)``.

        Returns:
            ``(means, variance)``: M -> float32 (n, D), and float64 (n,) or ``None``.
        """
        total = max(draws)
        running = None
        unit_sum = None
        unit_sq = None
        means: dict[int, torch.Tensor] = {}
        for j in range(total):
            feats = self.features(split, n, draw=j, cache=(j == 0)).double()
            running = feats.clone() if running is None else running.add_(feats)
            if conditional_variance:
                norms = feats.norm(dim=1, keepdim=True)
                unit = feats / norms.clamp_min(1e-12)
                unit_sum = unit.clone() if unit_sum is None else unit_sum.add_(unit)
                sq = unit.pow(2).sum(dim=1)
                unit_sq = sq if unit_sq is None else unit_sq.add_(sq)
            if j + 1 in draws:
                means[j + 1] = (running / (j + 1)).float()
        variance = None
        if conditional_variance:
            if total < 2:
                raise ValueError("the conditional variance needs at least two nuisance draws")
            variance = ((unit_sq - unit_sum.pow(2).sum(dim=1) / total) / (total - 1)).clamp_min(0.0)
        return means, variance

    def _encode(self, split: str, start: int, stop: int, *, draw: int, shift: Shift | None) -> torch.Tensor:
        gen = self.generator(shift)
        seed = self.suite.seed
        batch = self.suite.batch_size
        label = f"{split} draw {draw}" + ("" if shift is None else f" {shift[0]} {shift[1]} {shift[2]:+g}")
        parts = []
        with tqdm(total=stop - start, desc=f"features {label}", unit="img", leave=False, disable=not self.progress) as bar:
            for lo in range(start, stop, batch):
                count = min(batch, stop - lo)
                content = gen.sample_content(count, seed=seed, stream=split, start=lo)
                nuisance = gen.sample_nuisance(count, seed=seed, stream=f"{split}/nuisance/{draw}", start=lo)
                tick = time.perf_counter()
                images = None if isinstance(self.encoder, FactorEncoder) else gen.render(content, nuisance, validate=False)
                tock = time.perf_counter()
                parts.append(call_encoder(self.encoder, images, content, nuisance, what=f"items {lo}..{lo + count - 1} of {label}"))
                self.render_seconds += tock - tick
                self.encode_seconds += time.perf_counter() - tock
                self.images_encoded += count
                bar.update(count)
        return torch.cat(parts)
