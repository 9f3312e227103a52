"""The generator registry: ``get(name)`` and ``list()`` over every generator's frozen spec.

Each generator lives in its own folder ``spirograph/generators/<name>/`` whose ``spec.py``
defines ``SPEC`` (a ``GeneratorSpec``; its module docstring says what to provide). The folders are
found on first use, so adding a generator is adding a folder; ``register`` adds a spec defined
elsewhere (a user's own generator) for the running process.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys

from .._validate import bad_value, unknown_name
from .spec import GeneratorSpec

DEFAULT = "spirograph"
"""The generator every entry point uses unless told otherwise (and the one of 0.1/0.2 files)."""

_REGISTRY: dict[str, GeneratorSpec] = {}
_BUILT_IN: dict[str, GeneratorSpec] = {}  # the specs of the package's own folders, which every process finds
_discovered = False


def _discover() -> None:
    """Import ``<folder>/spec.py`` of every generator folder once, registering its ``SPEC``.

    Folders without a ``spec.py`` are skipped; an error inside one is raised, not hidden.
    """
    global _discovered
    if _discovered:
        return
    _discovered = True
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg):
        if importlib.util.find_spec(f"{__name__}.{module}.spec") is None:
            continue  # a folder without spec.py is not (yet) a generator
        spec = importlib.import_module(f"{__name__}.{module}.spec").SPEC
        if spec.name != module:
            raise bad_value(f"{__name__}.{module}.spec.SPEC.name", spec.name, f"the folder's name {module!r}")
        _REGISTRY.setdefault(spec.name, spec)
        _BUILT_IN[spec.name] = spec


def register(spec: GeneratorSpec, *, overwrite: bool = False) -> GeneratorSpec:
    """Add ``spec`` to the registry under ``spec.name`` (for this process).

    Raises:
        ValueError: not a ``GeneratorSpec``, or the name is taken and ``overwrite`` is false.
    """
    if not isinstance(spec, GeneratorSpec):
        raise bad_value("spec", type(spec).__name__, "a spirograph.generators.GeneratorSpec")
    _discover()
    if spec.name in _REGISTRY and _REGISTRY[spec.name] is not spec and not overwrite:
        raise bad_value("spec.name", spec.name, f"a name not yet registered (taken: {', '.join(sorted(_REGISTRY))})")
    _REGISTRY[spec.name] = spec
    return spec


def get(name: "str | GeneratorSpec" = DEFAULT) -> GeneratorSpec:
    """The registered generator called ``name`` (a ``GeneratorSpec`` is returned as is).

    Raises:
        ValueError: unknown name: ``unknown generator 'x'; did you mean 'y'? available: ...``.
    """
    if isinstance(name, GeneratorSpec):
        return name
    if not isinstance(name, str):
        raise bad_value("generator", name, "a generator name such as 'spirograph'")
    _discover()
    if name not in _REGISTRY:
        raise unknown_name("generator", name, _REGISTRY)
    return _REGISTRY[name]


def list() -> tuple[str, ...]:  # noqa: A001 - the registry's public verb, as in timm's list_models
    """Names of the registered generators, sorted."""
    _discover()
    return tuple(sorted(_REGISTRY))


# ``list`` is left out of ``*`` imports, which would otherwise shadow the builtin.
__all__ = ["DEFAULT", "GeneratorSpec", "get", "register"]


def for_worker(spec: GeneratorSpec, *, workers: int) -> "tuple[str, str] | None":
    """Where a fresh worker process finds ``spec``: None for a built-in (its folder is found there too),
    else ``(module, name)`` of the module-level variable that holds it in the module of its ``render_fn``.

    A spec pickles by its registered name (``GeneratorSpec.__reduce__``), so a generator registered
    at run time has to be imported and registered again in each worker (``adopt``).

    Raises:
        ValueError: naming ``workers``, when no such variable exists (a spec built in ``__main__``,
            inside a function, or with a ``render_fn`` from another module).
    """
    _discover()
    if _BUILT_IN.get(spec.name) is spec:
        return None
    module = getattr(spec.render_fn, "__module__", None)
    namespace = vars(sys.modules[module]) if module not in (None, "__main__") and module in sys.modules else {}
    variable = next((key for key, value in namespace.items() if value is spec), None)
    if variable is None:
        raise bad_value(
            "workers",
            workers,
            f"1 for generator {spec.name!r}: a worker process can only import a generator registered at run time from a "
            f"module-level variable in the module of its render_fn ({module}), and there is none",
        )
    return module, variable


def adopt(where: "tuple[str, str] | None") -> None:
    """In a worker process: import and register the spec ``for_worker`` located (nothing for a built-in)."""
    if where is not None:
        spec = getattr(importlib.import_module(where[0]), where[1])
        if _REGISTRY.get(spec.name) is not spec:
            register(spec, overwrite=True)
