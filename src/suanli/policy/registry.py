"""The one registry of scheduling policies.

A policy is one module with a class decorated by :func:`register`; its optional
``Params`` (a :class:`~suanli.policy.common.PolicyParams` model) validates the
scenario's ``policies: {name: {...}}`` section. :func:`make_policy` builds one
by name, or raises an error listing the valid names. Serving policies (which scale
online inference services, :mod:`suanli.policy.serving`) register with
``register(name, serving=True)`` in a namespace of their own and are built by
:func:`make_serving_policy`; their parameters sit under ``policies: {serving/<name>: …}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np
from pydantic import ValidationError

from suanli.core.policy import Policy, PolicyParams
from suanli.core.serving import ServingPolicy
from suanli.errors import InputError, Problem, UnknownNameError

_POLICIES: dict[str, type[Any]] = {}
_SERVING: dict[str, type[Any]] = {}

#: suanli's own policy (:mod:`suanli.policy.suanli`): what ``suanli serve`` runs unless
#: told otherwise.
DEFAULT_POLICY = "suanli"
#: suanli's own serving policy (:mod:`suanli.policy.serving.tidal`).
DEFAULT_SERVING_POLICY = "suanli"

T = TypeVar("T")


def register(name: str, serving: bool = False) -> Callable[[type[T]], type[T]]:
    """Class decorator: make a policy (a serving policy) available under ``name``."""
    table = _SERVING if serving else _POLICIES

    def deco(cls: type[T]) -> type[T]:
        if name in table:
            raise ValueError(f"policy {name!r} registered twice")
        cls.name = name  # type: ignore[attr-defined]
        table[name] = cls
        return cls

    return deco


def serving_policy_names() -> list[str]:
    """Registered serving-policy names, sorted."""
    _load_builtin()
    return sorted(_SERVING)


def policy_names() -> list[str]:
    """Registered policy names, sorted."""
    _load_builtin()
    return sorted(_POLICIES)


def make_policy(
    name: str, params: Mapping[str, Any] | None = None, rng: np.random.Generator | None = None
) -> Policy:
    """A policy by name, with parameters validated against its ``Params`` model."""
    policy: Policy = _make(_POLICIES, "policy", name, params, rng)
    return policy


def make_serving_policy(
    name: str, params: Mapping[str, Any] | None = None, rng: np.random.Generator | None = None
) -> ServingPolicy:
    """A serving policy by name, with parameters validated against its ``Params`` model."""
    policy: ServingPolicy = _make(_SERVING, "serving policy", name, params, rng, "serving/")
    return policy


def check_policy_params(params: Mapping[str, Mapping[str, Any]], source: str) -> None:
    """Check a scenario's ``policies:`` block (from file ``source``) as :func:`make_policy`
    and :func:`make_serving_policy` would (``serving/<name>`` for serving policies): every
    unknown name (with the valid ones) and bad parameter (with the valid parameters) is an
    :class:`InputError` problem naming ``policies.<name>`` and the field."""
    problems: list[Problem] = []
    for key, values in params.items():
        try:
            if key.startswith("serving/"):
                make_serving_policy(key.removeprefix("serving/"), values)
            else:
                make_policy(key, values)
        except UnknownNameError as exc:
            problems.append(Problem(source, f"policies.{key}", str(exc)))
        except InputError as exc:
            problems.extend(
                Problem(source, f"{p.source}.{p.field}", p.message, p.hint) for p in exc.problems
            )
    if problems:
        raise InputError(problems)


def _make(
    table: Mapping[str, type[Any]],
    what: str,
    name: str,
    params: Mapping[str, Any] | None,
    rng: np.random.Generator | None,
    prefix: str = "",
) -> Any:
    _load_builtin()
    cls = table.get(name)
    if cls is None:
        raise UnknownNameError(what, name, table)
    model: type[PolicyParams] = getattr(cls, "Params", PolicyParams)
    try:
        validated = model.model_validate(dict(params or {}))
    except ValidationError as exc:
        raise InputError(
            Problem(
                f"policies.{prefix}{name}",
                ".".join(str(x) for x in e["loc"]),
                str(e["msg"]),
                f"valid parameters: {', '.join(model.model_fields) or 'none'}",
            )
            for e in exc.errors()
        ) from None
    return cls(validated, rng if rng is not None else np.random.default_rng(0))


def _load_builtin() -> None:
    """Import the built-in policy modules (each registers itself)."""
    import suanli.policy.backfill
    import suanli.policy.fifo
    import suanli.policy.fifo_het
    import suanli.policy.greedy_cost
    import suanli.policy.las
    import suanli.policy.maxmin_het
    import suanli.policy.pollux
    import suanli.policy.serving
    import suanli.policy.suanli  # noqa: F401
