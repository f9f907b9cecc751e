"""Accelerator names as users write them: ``H100``, ``910C``, ``MI300X``, ``nvidia-h200``.

Catalog ids are exact (``nvidia_h100_sxm5``, ``huawei_ascend_910c``); people write short
names, as SkyPilot's ``accelerators: H100:8`` does. An id's *aliases* are its id and the
forms got by dropping, in order, the vendor prefix (``h100_sxm5``), then the form-factor
and memory suffixes (``h100``), and, for Ascend, the family word (``910c``), each compared
without case, ``-``, ``_`` or spaces (and the vendor with the model: ``nvidia_h200``). A
name resolves when it is an id, or the alias of
exactly one id of the catalog it is looked up in; a name that is the alias of several
(``V100``: 16 and 32 GB), or that begins aliases of several and of no other (``910B``), is
ambiguous and the error lists them. Suggestions for an unknown
name come from the closeness of the whole id (``nvidia_h200_sx`` suggests
``nvidia_h200_sxm``, not ``nvidia_h20``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping

from suanli.model.accelerator import Accelerator

_VENDOR_PREFIXES = (
    "nvidia",
    "amd",
    "huawei",
    "kunlunxin",
    "cambricon",
    "hygon",
    "mthreads",
    "biren",
    "alibaba",
)
#: Words after the model that say its form factor or memory, not which chip it is.
_SUFFIX = re.compile(r"^(sxm\d*|pcie|hgx|per|gpu|nvl|\d+g|\d+gb|ai|x\d+)$")


def squash(name: str) -> str:
    """A name without case, spaces, ``-`` or ``_`` (how aliases are compared)."""
    return re.sub(r"[\s_\-]+", "", name.lower())


def aliases(acc_id: str) -> set[str]:
    """The squashed names that stand for ``acc_id`` (see the module docstring)."""
    words = acc_id.lower().split("_")
    out = {squash(acc_id)}
    vendor = None
    if words and words[0] in _VENDOR_PREFIXES and len(words) > 1:
        vendor, words = words[0], words[1:]
        out.add(squash("_".join(words)))
    core = list(words)
    while len(core) > 1 and _SUFFIX.match(core[-1]):
        core.pop()
    out.add(squash("_".join(core)))
    if vendor is not None:
        out.add(squash("_".join([vendor, *core])))
    if core and core[0] in ("ascend", "openb") and len(core) > 1:
        out.add(squash("_".join(core[1:])))
    return out


class AcceleratorNameError(ValueError):
    """A name that resolves to no accelerator, or to several (the message says which)."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def resolve(name: str, ids: Iterable[str]) -> str:
    """The id among ``ids`` that ``name`` stands for; :class:`AcceleratorNameError`
    otherwise, with a suggestion by closeness and the valid names."""
    valid = sorted(set(ids))
    if name in valid:
        return name
    key = squash(name)
    hits = sorted(i for i in valid if key in aliases(i))
    if not hits and len(key) >= 3:  # a family: 910B for 910B1…910B4
        hits = sorted(i for i in valid if any(a.startswith(key) for a in aliases(i)))
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise AcceleratorNameError(
            f"accelerator {name!r} is ambiguous: it may be {', '.join(hits)}",
            f"write one of {', '.join(hits)}",
        )
    close = difflib.get_close_matches(key, [squash(i) for i in valid], n=1, cutoff=0.6)
    guess = next((i for i in valid if close and squash(i) == close[0]), None)
    lead = f"did you mean {guess!r}? " if guess else ""
    raise AcceleratorNameError(f"unknown accelerator {name!r}", f"{lead}valid: {', '.join(valid)}")


def by_vendor(catalog: Mapping[str, Accelerator], ids: Iterable[str] | None = None) -> str:
    """The ids (all of ``catalog``'s, or ``ids``) grouped by vendor, for an error's hint."""
    groups: dict[str, list[str]] = {}
    for i in sorted(ids if ids is not None else catalog):
        vendor = catalog[i].vendor if i in catalog else "other"
        groups.setdefault(vendor, []).append(i)
    return "; ".join(f"{v}: {', '.join(g)}" for v, g in sorted(groups.items()))
