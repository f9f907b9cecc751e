"""A small linear-model builder and the HiGHS calls that solve it.

Models are ``min cᵀx + c₀`` subject to ``l_r ≤ A x ≤ u_r`` and ``l_c ≤ x ≤ u_c``,
some columns integer. :func:`solve_milp` runs HiGHS's branch and cut (through
``highspy``); :func:`solve_lp` runs its simplex on the continuous relaxation (or
with chosen columns fixed) and returns the duals of the rows,
``∂(optimal objective)/∂(active bound)``. HiGHS is deterministic for a given model
and seed: same model, same answer, bit for bit.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

import highspy
import numpy as np
from scipy.sparse import coo_array, csr_array

INF = float("inf")


@dataclass(frozen=True, slots=True)
class RowInfo:
    """What a row means: its family (``power``, ``cap`` …), key, unit and scale."""

    family: str
    key: str
    unit: str
    scale: float = 1.0


@dataclass(frozen=True, slots=True)
class ColInfo:
    """What a column means: its family (``new``, ``alloc`` …) and key."""

    family: str
    key: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class Model:
    """A built model (arrays ready for HiGHS)."""

    c: np.ndarray
    offset: float
    a: csr_array
    row_lb: np.ndarray
    row_ub: np.ndarray
    col_lb: np.ndarray
    col_ub: np.ndarray
    integer: np.ndarray
    rows: tuple[RowInfo, ...]
    cols: tuple[ColInfo, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        """Rows, columns and integer columns."""
        return len(self.rows), len(self.cols), int(self.integer.sum())


class ModelBuilder:
    """Collects columns and rows; :meth:`build` freezes them into a :class:`Model`."""

    def __init__(self) -> None:
        self._cost: list[float] = []
        self._lb: list[float] = []
        self._ub: list[float] = []
        self._int: list[bool] = []
        self._cols: list[ColInfo] = []
        self._r: list[int] = []
        self._c: list[int] = []
        self._v: list[float] = []
        self._row_lb: list[float] = []
        self._row_ub: list[float] = []
        self._rows: list[RowInfo] = []
        self.offset = 0.0

    def col(
        self,
        info: ColInfo,
        lb: float = 0.0,
        ub: float = INF,
        cost: float = 0.0,
        integer: bool = False,
    ) -> int:
        """Add a column; return its index."""
        self._cost.append(cost)
        self._lb.append(lb)
        self._ub.append(ub)
        self._int.append(integer)
        self._cols.append(info)
        return len(self._cols) - 1

    def add_cost(self, j: int, cost: float) -> None:
        """Add ``cost`` to column ``j``'s objective coefficient."""
        self._cost[j] += cost

    def row(
        self, info: RowInfo, coefs: Mapping[int, float], lb: float = -INF, ub: float = INF
    ) -> int:
        """Add a row ``lb ≤ Σ coefs[j] x_j ≤ ub``; return its index."""
        i = len(self._rows)
        for j, v in coefs.items():
            if v != 0.0:
                self._r.append(i)
                self._c.append(j)
                self._v.append(v)
        self._row_lb.append(lb)
        self._row_ub.append(ub)
        self._rows.append(info)
        return i

    def coef(self, i: int, j: int, v: float) -> None:
        """Set one more coefficient: row ``i``, column ``j``."""
        self._r.append(i)
        self._c.append(j)
        self._v.append(v)

    def build(self) -> Model:
        """The frozen model."""
        n, m = len(self._cols), len(self._rows)
        a = coo_array((self._v, (self._r, self._c)), shape=(m, n)).tocsr()
        return Model(
            c=np.asarray(self._cost, dtype=float),
            offset=self.offset,
            a=csr_array(a),
            row_lb=np.asarray(self._row_lb, dtype=float),
            row_ub=np.asarray(self._row_ub, dtype=float),
            col_lb=np.asarray(self._lb, dtype=float),
            col_ub=np.asarray(self._ub, dtype=float),
            integer=np.asarray(self._int, dtype=bool),
            rows=tuple(self._rows),
            cols=tuple(self._cols),
        )


@dataclass(frozen=True, eq=False)
class Solution:
    """A solver's answer. ``status`` is ``optimal``, ``infeasible``, ``time_limit`` or ``error``.

    ``row_dual`` (LP only) holds ``∂ objective / ∂ active bound`` for every row.
    """

    status: str
    x: np.ndarray | None
    objective: float | None
    seconds: float
    message: str = ""
    mip_gap: float | None = None
    row_dual: np.ndarray | None = field(default=None)

    @property
    def ok(self) -> bool:
        """Whether a solution is available (optimal, or feasible at the time limit)."""
        return self.x is not None and self.status in ("optimal", "time_limit")


#: HiGHS's own default relative MIP gap: a plan is "optimal" when proven within 0.01 %.
DEFAULT_MIP_GAP = 1e-4


def solve_milp(
    model: Model, time_limit_s: float = 600.0, mip_rel_gap: float = DEFAULT_MIP_GAP
) -> Solution:
    """Solve the model with its integer columns (HiGHS branch and cut)."""
    h = _highs(model, integer=True)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    t0 = time.perf_counter()
    h.run()
    seconds = time.perf_counter() - t0
    status = _status(h)
    info = h.getInfo()
    has_x = status in ("optimal", "time_limit") and info.primal_solution_status == 2
    x = np.asarray(h.getSolution().col_value, dtype=float) if has_x else None
    obj = float(info.objective_function_value) + model.offset if x is not None else None
    gap = float(info.mip_gap) if x is not None and model.integer.any() else None
    return Solution(status, x, obj, seconds, h.modelStatusToString(h.getModelStatus()), gap)


def solve_lp(model: Model, fix: Mapping[int, float] | None = None) -> Solution:
    """Solve the continuous relaxation (columns in ``fix`` held at their values), with duals."""
    h = _highs(model, integer=False, fix=fix)
    t0 = time.perf_counter()
    h.run()
    seconds = time.perf_counter() - t0
    status = _status(h)
    if status != "optimal":
        return Solution(status, None, None, seconds, h.modelStatusToString(h.getModelStatus()))
    sol = h.getSolution()
    obj = float(h.getInfo().objective_function_value) + model.offset
    x = np.asarray(sol.col_value, dtype=float)
    return Solution("optimal", x, obj, seconds, row_dual=np.asarray(sol.row_dual, dtype=float))


def _status(h: highspy.Highs) -> str:
    ms = h.getModelStatus()
    S = highspy.HighsModelStatus
    if ms == S.kOptimal:
        return "optimal"
    if ms in (S.kInfeasible, S.kUnboundedOrInfeasible):
        return "infeasible"
    if ms == S.kUnbounded:
        return "unbounded"
    if ms in (S.kTimeLimit, S.kIterationLimit, S.kSolutionLimit, S.kInterrupt):
        return "time_limit"
    return "error"


def _highs(model: Model, integer: bool, fix: Mapping[int, float] | None = None) -> highspy.Highs:
    _silence_banner()
    lb, ub = model.col_lb.copy(), model.col_ub.copy()
    for j, v in (fix or {}).items():
        lb[j] = ub[j] = v
    lp = highspy.HighsLp()
    lp.num_col_ = model.a.shape[1]
    lp.num_row_ = model.a.shape[0]
    lp.col_cost_ = model.c
    lp.col_lower_ = lb
    lp.col_upper_ = ub
    lp.row_lower_ = model.row_lb
    lp.row_upper_ = model.row_ub
    csc = model.a.tocsc()
    csc.sort_indices()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = csc.indptr
    lp.a_matrix_.index_ = csc.indices
    lp.a_matrix_.value_ = csc.data
    if integer and model.integer.any():
        kinds = highspy.HighsVarType
        lp.integrality_ = [kinds.kInteger if i else kinds.kContinuous for i in model.integer]
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("random_seed", 0)
    h.passModel(lp)
    return h


@cache
def _silence_banner() -> None:
    """Let HiGHS print its once-per-process banner into /dev/null instead of stdout.

    The C++ library writes it to file descriptor 1 when the first solver object is
    made, which would corrupt machine-readable output; we make that first object here
    with descriptor 1 pointing at /dev/null for the moment it takes.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            highspy.Highs()  # type: ignore[no-untyped-call]
    finally:
        os.dup2(saved, 1)
        os.close(saved)
