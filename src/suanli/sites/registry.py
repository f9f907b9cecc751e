"""The registry of site backends.

A backend is a class registered with :func:`register` (one module per backend, as
SkyPilot has one class per cloud). It declares

* ``Settings`` — a pydantic model of its entry in the sites file
  (:mod:`suanli.sites.config`), ``extra="forbid"``;
* ``unsupported`` — each :class:`~suanli.sites.base.Feature` it lacks, with the reason;
* ``needs_device_types`` — whether every accelerator of the site's pools must be given
  the backend's own name for it (Slurm's GRES types); otherwise the accelerator id is used;

and is built as ``cls(site_id, settings, clock)``. :func:`backend` looks one up by name,
or raises an error listing the valid names. A new backend (Ray, Kubernetes) is a new
module in :mod:`suanli.sites` with one registered class; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from suanli.clock import Clock
from suanli.errors import UnknownNameError
from suanli.sites.base import Feature, SiteBackend


class BackendSettings(BaseModel):
    """Base of backends' settings models (one site's entry in the sites file), with what
    every backend may be told."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    resize: bool = Field(
        True,
        description="let policies resize running elastic jobs here (stop them and submit "
        "them again on the new shape); false where the site's rules forbid it",
    )

    def disabled(self) -> dict[Feature, str]:
        """Features these settings turn off, with the reason (a backend adds them to its
        ``unsupported``)."""
        if self.resize:
            return {}
        return {Feature.RESIZE: "resize: false in the sites file"}


class BackendClass(Protocol):
    """What a registered backend class provides."""

    backend_name: ClassVar[str]
    Settings: ClassVar[type[BackendSettings]]
    unsupported: ClassVar[Mapping[Feature, str]]
    needs_device_types: ClassVar[bool]

    def __call__(self, site: str, settings: Any, clock: Clock) -> SiteBackend:
        """Build the backend of one site."""
        ...


_BACKENDS: dict[str, Any] = {}

T = TypeVar("T")


def register(name: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: make a site backend available under ``name``."""

    def deco(cls: type[T]) -> type[T]:
        if name in _BACKENDS:
            raise ValueError(f"site backend {name!r} registered twice")
        for attr in ("Settings", "unsupported", "needs_device_types"):
            if not hasattr(cls, attr):
                raise TypeError(f"site backend {name!r} must declare {attr}")
        cls.backend_name = name  # type: ignore[attr-defined]
        _BACKENDS[name] = cls
        return cls

    return deco


def backend_names() -> list[str]:
    """Registered backend names, sorted."""
    _load_builtin()
    return sorted(_BACKENDS)


def backend(name: str) -> BackendClass:
    """The backend class registered as ``name``."""
    _load_builtin()
    cls = _BACKENDS.get(name)
    if cls is None:
        raise UnknownNameError("site backend", name, _BACKENDS)
    out: BackendClass = cls
    return out


def supports(cls: BackendClass, feature: Feature) -> bool:
    """Whether a backend can do ``feature``."""
    return feature not in cls.unsupported


def capabilities() -> dict[str, dict[str, str]]:
    """Every backend's features: ``{backend: {feature: "yes" | the reason it cannot}}``."""
    return {
        name: {f.value: backend(name).unsupported.get(f, "yes") for f in Feature}
        for name in backend_names()
    }


def _load_builtin() -> None:
    """Import the built-in backends (each registers itself)."""
    import suanli.sites.dryrun
    import suanli.sites.ray
    import suanli.sites.slurm  # noqa: F401
