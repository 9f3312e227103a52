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
from ..generator import Generator
from ..shifts import shift_space
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
        space: the unshifted factor space (default: the suite's generator's priors and roles).
        progress: show a progress bar per image set.
    """

    def __init__(self, encoder: Any, suite: Suite, *, device: torch.device, space: FactorSpace | None = None, progress: bool = False) -> None:
        self.encoder = encoder
        self.suite = suite
        self.device = torch.device(device)
        self.space = space if space is not None else FactorSpace(generator=suite.generator)
        self.progress = progress
        self.render_seconds = 0.0
        self.encode_seconds = 0.0
        self.images_encoded = 0
        self._generators: dict[Any, Generator] = {}
        self._cache: dict[tuple, torch.Tensor] = {}

    def generator(self, shift: Shift | None = None) -> Generator:
        """The ``Generator`` of the unshifted space, or of ``shift`` applied to it."""
        if shift not in self._generators:
            space = self.space
            options = self.suite.render_options()
            if shift is not None:
                target, kind, level = shift
                family = next((f for f in space.spec.shifts if (f.target, f.kind) == (target, kind)), None)
                # A registered family names the level in its error if the box cannot be drawn at the suite's options.
                space = family.apply(space, level, options) if family is not None else shift_space(space, target, kind, level)
            self._generators[shift] = Generator(space=space, device=self.device, **options)
        return self._generators[shift]

    spirograph = generator  # the 0.2 name

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
            (n, D) on the CPU: float64 if the encoder returns float64, else float32.

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


class DrawAverager:
    """Running average of features over nuisance draws 0, 1, 2, ... of the first ``n`` items (PROTOCOL.md §4).

    Draws are encoded one at a time and folded into a running sum, so memory stays at a few
    (n, D) arrays whatever the number of draws; draw 0 comes from (and stays in) the source's
    cache, later draws are not cached. With ``keep`` > 0 the features of every draw of the first
    ``keep`` items are kept as well, for the invariance statistics (PROTOCOL.md §5).

    Args:
        source: the feature source.
        split: ``"train"`` or ``"test"``.
        n: number of items.
        keep: number of leading items whose per-draw features are kept (<= ``n``).
    """

    def __init__(self, source: FeatureSource, split: str, n: int, *, keep: int = 0) -> None:
        if not 0 <= keep <= n:
            raise ValueError(f"keep={keep!r}: expected 0 <= keep <= n={n}")
        self.source, self.split, self.n, self.keep = source, split, n, keep
        self.draws = 0
        self._sum: torch.Tensor | None = None
        self._kept: list[torch.Tensor] = []
        self._dtype = torch.float32

    def advance_to(self, m: int) -> torch.Tensor:
        """Fold in draws up to ``m`` (>= the draws already folded) and return their mean, (n, D)."""
        if m < max(self.draws, 1):
            raise ValueError(f"m={m!r}: expected at least {max(self.draws, 1)} (draws are folded in order)")
        while self.draws < m:
            feats = self.source.features(self.split, self.n, draw=self.draws, cache=(self.draws == 0))
            # A copy: draw 0 is the cached tensor itself when the encoder returns float64.
            self._sum = feats.to(torch.float64, copy=True) if self._sum is None else self._sum.add_(feats.double())
            if self.keep:
                self._kept.append(feats[: self.keep].clone())
            self.draws += 1
            self._dtype = feats.dtype
        return (self._sum / self.draws).to(self._dtype)

    def kept(self) -> torch.Tensor:
        """Features of every draw folded so far of the first ``keep`` items: (keep, draws, D).

        Raises:
            ValueError: the averager keeps no draws.
        """
        if not self.keep:
            raise ValueError("keep=0: this averager keeps no per-draw features")
        return torch.stack(self._kept, dim=1)
