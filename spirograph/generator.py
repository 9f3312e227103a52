"""``Generator``: any registered generator's FactorSpace plus its renderer, batched on any device; ``Spirograph`` is one."""

from __future__ import annotations

from typing import Any, Iterable

import torch

from ._validate import bad_value, check_int, check_memory
from .factors import FactorSpace, itemsize, stack
from .generators import GeneratorSpec, get
from .generators.spec import differentiated

DEFAULT_CHUNK = 8192  # images per render call when no gradient is needed (~40 MB of float32 work)


def check_device(device: Any) -> torch.device:
    """``device`` as a ``torch.device`` that can hold data on this machine.

    Raises:
        ValueError: not a device, ``meta`` (no values), or a device this build or machine lacks
            (``cuda`` on a CPU-only build, a GPU index past the last one).
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise bad_value("device", device, "a torch device such as 'cpu' or 'cuda:0'") from None
    if dev.type == "meta":
        raise bad_value("device", device, "a device that holds values ('meta' tensors have none); available: " + _available())
    try:
        torch.empty(0, device=dev)
    except (RuntimeError, AssertionError, ValueError):
        raise bad_value("device", device, f"a device available here: {_available()}") from None
    return dev


def _available() -> str:
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    return ", ".join(devices)


class Generator:
    """A registered generator's process: sample content and nuisance factors, render images.

    Content and nuisance are passed around as column tensors, ``content`` (B, n_content) and
    ``nuisance`` (B, n_nuisance), with columns in the order of ``space.content`` and
    ``space.nuisance``.

    Args:
        generator: a registered name or ``GeneratorSpec`` (default: ``space``'s generator, else
            ``"spirograph"``).
        space: factor ranges and roles (default: the generator's priors and default roles).
        device: where images are rendered.
        dtype: floating dtype of factors and images (float32 or float64).
        **options: render options of the generator (``spec.options``; missing ones take their defaults).

    Example:
        >>> gen = Generator("spirograph", resolution=16)
        >>> content, nuisance = gen.sample(8, seed=0, stream="train")
        >>> gen.render(content, nuisance).shape
        torch.Size([8, 3, 16, 16])
    """

    def __init__(
        self,
        generator: "str | GeneratorSpec | None" = None,
        space: FactorSpace | None = None,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        **options: Any,
    ) -> None:
        if space is not None and not isinstance(space, FactorSpace):
            raise bad_value("space", type(space).__name__, "a spirograph.FactorSpace")
        if generator is None:
            spec = space.spec if space is not None else get()
        else:
            spec = get(generator)
        if space is None:
            space = FactorSpace(generator=spec)
        if space.spec is not spec:
            raise bad_value("space", f"a space of generator {space.generator!r}", f"a space of generator {spec.name!r}")
        if dtype not in (torch.float32, torch.float64):
            raise bad_value("dtype", dtype, "torch.float32 or torch.float64")
        self.spec = spec
        self.space = space
        self.options = spec.render_options(options)
        if spec.check_space is not None:
            spec.check_space({n: (f.low, f.high) for n, f in space.factors.items()}, self.options)
        self.resolution = self.options["resolution"]
        self.device = check_device(device)
        self.dtype = dtype

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"Generator({self.spec.name!r}, {options}, device={str(self.device)!r}, dtype={self.dtype}, space={self.space!r})"

    @property
    def content_names(self) -> tuple[str, ...]:
        return self.space.content

    @property
    def nuisance_names(self) -> tuple[str, ...]:
        return self.space.nuisance

    def render_options(self) -> dict:
        """The keyword arguments this generator passes to its spec's render function (a copy)."""
        return dict(self.options)

    # -- sampling --------------------------------------------------------------------------
    def sample_content(self, n: int, *, seed: int, stream: str = "train", start: int = 0) -> torch.Tensor:
        """Content of items ``start .. start+n-1`` of ``(seed, stream)``: tensor (n, n_content)."""
        return self._sample(self.content_names, n, seed=seed, stream=stream, start=start)

    def sample_nuisance(
        self,
        n: int,
        *,
        seed: int | None = None,
        stream: str = "train",
        start: int = 0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Nuisance draws, tensor (n, n_nuisance): per item from ``seed``/``stream``, or from ``generator``.

        Exactly one of ``seed`` and ``generator`` must be given.
        """
        if (seed is None) == (generator is None):
            raise bad_value("seed/generator", (seed, generator), "exactly one of seed and generator")
        if generator is not None:
            draw = self.space.sample_with(n, generator, names=self.nuisance_names, dtype=self.dtype, device=self.device)
            return stack(draw, self.nuisance_names) if self.nuisance_names else torch.empty(n, 0, dtype=self.dtype, device=self.device)
        return self._sample(self.nuisance_names, n, seed=seed, stream=stream, start=start)

    def sample(self, n: int, *, seed: int, stream: str = "train", start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Content and nuisance of items ``start .. start+n-1``: tensors (n, n_content), (n, n_nuisance)."""
        return (
            self.sample_content(n, seed=seed, stream=stream, start=start),
            self.sample_nuisance(n, seed=seed, stream=stream, start=start),
        )

    def sample_at(self, indices, *, seed: int, stream: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """Content and nuisance of the items at arbitrary ``indices`` (a shuffled batch), vectorised.

        Row j equals item ``indices[j]`` of ``sample`` bit for bit.

        Args:
            indices: 1-D integer sequence, numpy array or tensor of N item indices (>= 0).

        Returns:
            Tensors (N, n_content) and (N, n_nuisance).
        """
        names = self.content_names + self.nuisance_names
        draw = self.space.sample_at(indices, seed=seed, stream=stream, names=names, dtype=self.dtype, device=self.device)
        n = next(iter(draw.values())).shape[0]
        nuisance = stack(draw, self.nuisance_names) if self.nuisance_names else torch.empty(n, 0, dtype=self.dtype, device=self.device)
        return stack(draw, self.content_names), nuisance

    def _sample(self, names: tuple[str, ...], n: int, *, seed: int, stream: str, start: int) -> torch.Tensor:
        draw = self.space.sample(n, seed=seed, stream=stream, start=start, names=names, dtype=self.dtype, device=self.device)
        if not names:
            return torch.empty(check_int("n", n, 0), 0, dtype=self.dtype, device=self.device)
        return stack(draw, names)

    # -- rendering -------------------------------------------------------------------------
    def factors(self, content: torch.Tensor, nuisance: torch.Tensor) -> dict[str, torch.Tensor]:
        """Merge column tensors (B, n_content) and (B, n_nuisance) into the factor mapping (canonical order)."""
        self._check_columns("content", content, self.content_names)
        self._check_columns("nuisance", nuisance, self.nuisance_names)
        if content.shape[0] != nuisance.shape[0]:
            raise bad_value("nuisance.shape", tuple(nuisance.shape), f"{content.shape[0]} rows like content")
        merged = {n: content[:, i] for i, n in enumerate(self.content_names)}
        merged.update({n: nuisance[:, i] for i, n in enumerate(self.nuisance_names)})
        return {n: merged[n] for n in self.spec.names}

    def render(
        self, content: torch.Tensor, nuisance: torch.Tensor, *, chunk_size: int | None = DEFAULT_CHUNK, validate: bool = True
    ) -> torch.Tensor:
        """Render images from content (B, n_content) and nuisance (B, n_nuisance) tensors.

        Inputs are moved to ``self.device`` and cast to ``self.dtype``, so the images always have
        this generator's dtype. The renderer works in cache-sized blocks whatever the batch;
        without autograd at most ``chunk_size`` images go to one call of it (None: all).

        Args:
            validate: check the values (finite, > 0 where the spec says so, e.g. Spirograph's
                ``b``/``sigma``); internal callers that draw the factors themselves pass False.

        Returns:
            Tensor (B, 3, R, R) on ``self.device`` with ``self.dtype``.

        Raises:
            ValueError: bad shapes or dtypes; with ``validate``, NaN or inf in a column (named) or
                values outside what the renderer accepts.
        """
        self._check_columns("content", content, self.content_names)
        self._check_columns("nuisance", nuisance, self.nuisance_names)
        if chunk_size is not None:
            chunk_size = check_int("chunk_size", chunk_size, 1)
        if validate:
            _check_finite("content", content, self.content_names)
            _check_finite("nuisance", nuisance, self.nuisance_names)
        factors = self.factors(content.to(self.device, self.dtype), nuisance.to(self.device, self.dtype))
        if validate:
            self.spec.check_factors(factors)
        opts = self.options
        batch = content.shape[0]
        if differentiated(factors):  # reverse mode, forward mode or a torch.func transform
            return self.spec.render_fn(factors, **opts)
        check_memory("content", f"{batch} rows", batch * 3 * self.resolution**2 * itemsize(self.dtype), "images", self.device)
        out = torch.empty(batch, 3, self.resolution, self.resolution, dtype=self.dtype, device=self.device)
        step = batch if chunk_size is None else chunk_size
        for lo in range(0, batch, max(step, 1)):
            self.spec.render_into(out[lo : lo + step], {k: v[lo : lo + step] for k, v in factors.items()}, **opts)
        return out

    def items(self, n: int, *, seed: int, stream: str = "train", start: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images, content and nuisance of items ``start .. start+n-1`` of ``(seed, stream)``.

        Returns:
            ``(images (n, 3, R, R), content (n, n_content), nuisance (n, n_nuisance))``.

        Raises:
            ValueError: bad arguments, including an ``n`` whose images would not fit in memory.
        """
        n = check_int("n", n, 0)
        check_memory("n", n, n * (3 * self.resolution**2 + len(self.space.names)) * itemsize(self.dtype), "images", self.device)
        content, nuisance = self.sample(n, seed=seed, stream=stream, start=start)
        return self.render(content, nuisance, validate=False), content, nuisance

    def views(
        self,
        content: torch.Tensor,
        k: int = 2,
        *,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        stream: str = "views",
        start: int = 0,
        requires_grad: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``k`` views of each content row, each with an independent nuisance draw.

        Nuisance comes from ``generator`` (training) or, per item, from ``seed`` with streams
        ``f"{stream}/{j}"`` for view j and items ``start .. start+B-1`` (evaluation; reproducible
        by construction). Exactly one of ``generator`` and ``seed`` must be given.

        Args:
            content: (B, n_content).
            k: number of views (>= 1).
            requires_grad: make the returned nuisance a leaf that requires grad, so that images
                can be differentiated with respect to it (the InvCLR gradient penalty).

        Returns:
            ``(images (k, B, 3, R, R), nuisance (k, B, n_nuisance))``.

        Raises:
            ValueError: bad ``k`` (also one whose views would not fit in memory), content of the
                wrong shape, with NaN/inf or with values the renderer refuses (the column is
                named), or not exactly one of ``generator`` and ``seed``.
        """
        k = check_int("k", k, 1)
        self._check_columns("content", content, self.content_names)
        _check_finite("content", content, self.content_names, self.spec.positive)
        batch = content.shape[0]
        per_view = batch * (3 * self.resolution**2 + len(self.space.names)) * itemsize(self.dtype)
        check_memory("k", k, k * per_view, f"views of {batch} items", self.device)
        content = content.to(self.device, self.dtype)
        if (seed is None) == (generator is None):
            raise bad_value("seed/generator", (seed, generator), "exactly one of seed and generator")
        if generator is not None:
            draws = [self.sample_nuisance(batch, generator=generator) for _ in range(k)]
        else:
            draws = [self.sample_nuisance(batch, seed=seed, stream=f"{stream}/{j}", start=start) for j in range(k)]
        nuisance = torch.stack(draws)
        if requires_grad:
            nuisance.requires_grad_(True)
        # One render call for all k views: the content is repeated, the nuisance stacked.
        images = self.render(content.repeat(k, 1), nuisance.reshape(k * batch, -1), validate=False)
        return images.reshape(k, batch, 3, self.resolution, self.resolution), nuisance

    def _check_columns(self, argument: str, value: torch.Tensor, names: Iterable[str]) -> None:
        names = tuple(names)
        if not isinstance(value, torch.Tensor):
            raise bad_value(argument, type(value).__name__, f"a tensor (B, {len(names)}) with columns {names}")
        if value.ndim != 2 or value.shape[1] != len(names):
            raise bad_value(f"{argument}.shape", tuple(value.shape), f"(B, {len(names)}) with columns {names}")
        if not value.is_floating_point():
            raise bad_value(f"{argument}.dtype", value.dtype, "a floating dtype")


class Spirograph(Generator):
    """The Spirograph generative process (PROTOCOL.md §1): sample content and nuisance factors, render images.

    The ``Generator`` of the ``"spirograph"`` spec, with its render options as arguments and
    attributes.

    Args:
        space: factor ranges and roles (default: PROTOCOL.md §1).
        resolution, n_points, extent, normalize: rendering options of ``spirograph.render``.
        device: where images are rendered.
        dtype: floating dtype of factors and images (float32 or float64).

    Example:
        >>> gen = Spirograph()
        >>> content, nuisance = gen.sample(8, seed=0, stream="train")
        >>> gen.render(content, nuisance).shape
        torch.Size([8, 3, 32, 32])
    """

    def __init__(
        self,
        space: FactorSpace | None = None,
        *,
        resolution: int = 32,
        n_points: int = 40,
        extent: float = 6.0,
        normalize: str = "row",
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if space is not None and not isinstance(space, FactorSpace):
            raise bad_value("space", type(space).__name__, "a spirograph.FactorSpace")
        super().__init__(
            "spirograph", space, device=device, dtype=dtype, resolution=resolution, n_points=n_points, extent=extent, normalize=normalize
        )

    @property
    def n_points(self) -> int:
        return self.options["n_points"]

    @property
    def extent(self) -> float:
        return self.options["extent"]

    @property
    def normalize(self) -> str:
        return self.options["normalize"]

    def __repr__(self) -> str:
        return (
            f"Spirograph(resolution={self.resolution}, n_points={self.n_points}, extent={self.extent:g}, "
            f"normalize={self.normalize!r}, device={str(self.device)!r}, dtype={self.dtype}, space={self.space!r})"
        )


def _check_finite(argument: str, value: torch.Tensor, names: tuple[str, ...], positive: tuple[str, ...] = ()) -> None:
    """Raise one ValueError naming the first column of ``value`` (B, len(names)) with NaN or inf, or <= 0 among ``positive``."""
    if value.numel() == 0:
        return
    detached = value.detach()
    columns = [j for j, n in enumerate(names) if n in positive]
    bad = (~torch.isfinite(detached)).any(dim=0)
    if columns:  # one host sync for both checks
        bad = torch.cat([bad, (detached[:, columns] <= 0).any(dim=0)])
    bad = bad.tolist()
    if any(bad[: len(names)]):
        j = bad.index(True)
        raise bad_value(f"{argument}[:, {j}]", f"non-finite values (NaN or inf) in column {names[j]!r}", "finite values")
    for j, wrong in zip(columns, bad[len(names) :]):
        if wrong:
            low = detached[:, j].min().item()
            raise bad_value(f"{argument}[:, {j}]", f"min {low:g} in column {names[j]!r}", f"{names[j]} > 0")
