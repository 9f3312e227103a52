"""Training methods and their registry.

Adding a method:

1. Create ``baselines/methods/<name>.py`` with a ``MethodConfig`` dataclass (fields with defaults and
   a ``validate()`` that calls ``super().validate()`` and raises ``ValueError`` naming the field) and
   a ``Method`` subclass that sets ``Config``, optionally ``views_per_item`` (rendered views per item,
   default 2), ``needs_nuisance_grad`` (view 1's nuisance requires grad) and
   ``uses_nuisance_labels``, and implements ``build()`` (heads, buffers; sized from
   ``self.encoder.out_dim`` and the training factor space ``self.space``) and
   ``training_step(ctx: StepContext) -> {"loss": tensor, **scalar logs}``; per-item state such as a
   memory bank is a buffer and is updated in ``after_step``.
2. Decorate the class with ``@register("<name>")``.
3. Add the module name to ``BUILTIN_MODULES`` below; it is imported on first use, so
   ``spirograph-train --method <name>`` and ``build_method`` find it.

Presets (``spirograph_baselines.presets``) may set per-method config fields.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

from torch import nn

from spirograph import FactorSpace
from spirograph._validate import unknown_name

from .base import Method, MethodConfig, StepContext

BUILTIN_MODULES = ("simclr", "invclr", "clever", "invprop")

_REGISTRY: dict[str, type[Method]] = {}
_loaded = False

__all__ = ["Method", "MethodConfig", "StepContext", "available_methods", "build_method", "get_method", "register"]


def register(name: str) -> Callable[[type[Method]], type[Method]]:
    """Class decorator that registers a ``Method`` subclass under ``name``."""

    def decorate(cls: type[Method]) -> type[Method]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"method {name!r} is already registered by {_REGISTRY[name].__module__}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_MODULES:
        full = f"{__name__}.{module}"
        try:
            importlib.import_module(full)
        except ModuleNotFoundError as err:
            if err.name != full:  # a real missing dependency inside the module: surface it
                raise


def available_methods() -> tuple[str, ...]:
    """Names of all registered methods, sorted."""
    _load_builtins()
    return tuple(sorted(_REGISTRY))


def get_method(name: str) -> type[Method]:
    """The ``Method`` class registered under ``name``.

    Raises:
        ValueError: ``unknown method 'x'; did you mean 'y'? available: ...``.
    """
    _load_builtins()
    if name not in _REGISTRY:
        raise unknown_name("method", name, _REGISTRY)
    return _REGISTRY[name]


def build_method(
    name: str, encoder: nn.Module, overrides: Mapping[str, Any] | None = None, *, n_items: int, space: FactorSpace | None = None
) -> Method:
    """Instantiate method ``name`` around ``encoder`` with its config defaults updated by ``overrides``.

    ``space`` is the training views' factor space (default ``FactorSpace()``), see :class:`Method`.
    """
    cls = get_method(name)
    return cls(encoder, cls.Config.from_overrides(overrides), n_items=n_items, space=space)
