"""The one registry of scheduling policies.

A policy is one module with a class decorated by :func:`register`; its optional
``Params`` (a :class:`~suanli.policy.common.PolicyParams` model) validates the
scenario's ``policies: {name: {...}}`` section. :func:`make_policy` builds one
by name, or raises an error listing the valid names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np
from pydantic import ValidationError

from suanli.core.policy import Policy, PolicyParams
from suanli.errors import InputError, Problem, UnknownNameError

_POLICIES: dict[str, type[Any]] = {}

#: suanli's own policy (:mod:`suanli.policy.suanli`): what ``suanli serve`` runs unless
#: told otherwise.
DEFAULT_POLICY = "suanli"

T = TypeVar("T")


def register(name: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: make a policy available under ``name``."""

    def deco(cls: type[T]) -> type[T]:
        if name in _POLICIES:
            raise ValueError(f"policy {name!r} registered twice")
        cls.name = name  # type: ignore[attr-defined]
        _POLICIES[name] = cls
        return cls

    return deco


def policy_names() -> list[str]:
    """Registered policy names, sorted."""
    _load_builtin()
    return sorted(_POLICIES)


def make_policy(
    name: str, params: Mapping[str, Any] | None = None, rng: np.random.Generator | None = None
) -> Policy:
    """A policy by name, with parameters validated against its ``Params`` model."""
    _load_builtin()
    cls = _POLICIES.get(name)
    if cls is None:
        raise UnknownNameError("policy", name, _POLICIES)
    model: type[PolicyParams] = getattr(cls, "Params", PolicyParams)
    try:
        validated = model.model_validate(dict(params or {}))
    except ValidationError as exc:
        raise InputError(
            Problem(
                f"policies.{name}",
                ".".join(str(x) for x in e["loc"]),
                str(e["msg"]),
                f"valid parameters: {', '.join(model.model_fields) or 'none'}",
            )
            for e in exc.errors()
        ) from None
    policy: Policy = cls(validated, rng if rng is not None else np.random.default_rng(0))
    return policy


def _load_builtin() -> None:
    """Import the built-in policy modules (each registers itself)."""
    import suanli.policy.backfill
    import suanli.policy.fifo
    import suanli.policy.greedy_cost
    import suanli.policy.las
    import suanli.policy.maxmin_het
    import suanli.policy.suanli  # noqa: F401
