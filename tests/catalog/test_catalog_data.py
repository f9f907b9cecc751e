"""The built-in catalog data: it loads, covers the shared CSV, and agrees with it.

The CSV (``<repo>/../shared/data/catalog/accelerators.csv``) is the source the YAML was
curated from. Export-control figures are recomputed here by
:mod:`suanli.catalog.export_control` from the YAML's specs and compared with the CSV's.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from suanli.catalog import SOURCE_GROUPS, load_catalog, parse_catalog
from suanli.catalog.export_control import (
    eccn_3a090_class,
    jan2026_case_by_case,
    performance_density,
    tpp,
)
from suanli.errors import InputError
from suanli.model.accelerator import Accelerator

#: Every chip of accelerators.csv, by its ``id`` column (checked against the file below).
CSV_IDS: tuple[str, ...] = (
    "nvidia_a100_sxm4_80g",
    "nvidia_h100_sxm5",
    "nvidia_h800_sxm5",
    "nvidia_h20",
    "nvidia_h200_sxm",
    "nvidia_b200_hgx",
    "nvidia_gb200_per_gpu",
    "amd_mi300x",
    "amd_mi325x",
    "amd_mi308x",
    "huawei_ascend_910b1",
    "huawei_ascend_910b2",
    "huawei_ascend_910b3",
    "huawei_ascend_910b4",
    "huawei_ascend_910c",
    "huawei_ascend_950pr",
    "huawei_ascend_950dt",
    "huawei_ascend_960",
    "huawei_ascend_970",
    "kunlunxin_p800",
    "cambricon_mlu370_x8",
    "cambricon_mlu590",
    "cambricon_mlu690",
    "hygon_k100_ai",
    "hygon_bw1000",
    "mthreads_s4000",
    "biren_br100",
    "biren_br104",
)

#: CSV numeric column -> catalog field.
CSV_FIELDS: Mapping[str, str] = {
    "bf16_dense_tflops": "bf16_tflops",
    "fp16_dense_tflops": "fp16_tflops",
    "fp8_dense_tflops": "fp8_tflops",
    "int8_dense_tops": "int8_tops",
    "fp4_dense_tflops": "fp4_tflops",
    "mem_gb": "mem_gb",
    "mem_bw_tbs": "mem_bw_tbs",
    "tdp_w": "tdp_w",
    "die_area_mm2": "die_area_mm2",
    "interconnect_gbs": "interconnect_gbs",
    "price_usd": "price_usd",
}

#: (chip, field) where the YAML deliberately differs from a value the CSV has. Each must be
#: explained in the entry's notes, which must quote the CSV's value. None so far: where
#: sources disagree, the YAML keeps the CSV's choice and its notes give the other value.
DELIBERATE_DIFFERENCES: Mapping[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Expected:
    """Hand-computed export-control figures for an entry, and why they are what they are."""

    tpp: float | None
    pd: float | None
    eccn_class: str
    jan2026: bool | None
    why: str


#: CSV chips whose YAML fills compute figures the CSV lacks (labelled ASSUMPTION in the YAML),
#: so the computed figures legitimately differ from the CSV's blank TPP and 'unknown' class.
FILLED_BY_CATALOG: Mapping[str, Expected] = {
    "kunlunxin_p800": Expected(
        4000.0,
        None,
        "indeterminate",
        True,
        "assumed 250 TFLOPS FP16 x 16 = 4000, between 1600 and 4800 and no die area; "
        "2.4 TB/s < 6.5 TB/s",
    ),
    "cambricon_mlu590": Expected(
        4096.0,
        None,
        "indeterminate",
        True,
        "assumed 256 TFLOPS FP16 x 16 = 4096, no die area; assumed 1.23 TB/s",
    ),
    "hygon_k100_ai": Expected(
        2880.0,
        None,
        "indeterminate",
        True,
        "assumed 180 TFLOPS FP16 x 16 = 2880, no die area; assumed 1.2 TB/s",
    ),
}

#: Entries that are not in the CSV (openb GPUs), with hand-computed figures.
NOT_IN_CSV: Mapping[str, Expected] = {
    "nvidia_t4": Expected(1040.0, 1040 / 545, "not 3A090", True, "INT8 130 x 8 < 1600"),
    "nvidia_p100_pcie_16g": Expected(299.2, 299.2 / 610, "not 3A090", True, "FP16 18.7 x 16"),
    "nvidia_v100_sxm2_16g": Expected(
        2000.0, 2000 / 815, "not 3A090", True, "TPP < 2400 and PD 2.45 < 3.2"
    ),
    "nvidia_v100_sxm2_32g": Expected(
        2000.0, 2000 / 815, "not 3A090", True, "TPP < 2400 and PD 2.45 < 3.2"
    ),
    "nvidia_a10": Expected(2000.0, 2000 / 628, "not 3A090", True, "PD 3.18 just under 3.2"),
    "alibaba_openb_g2": Expected(2000.0, None, "indeterminate", True, "A10 proxy, no die area"),
    "alibaba_openb_g3": Expected(4992.0, None, "3A090.a.1", True, "A100 proxy, TPP >= 4800"),
}

#: openb GPU model code -> catalog id (the node list's ``model`` column).
OPENB_MODELS: Mapping[str, str] = {
    "T4": "nvidia_t4",
    "P100": "nvidia_p100_pcie_16g",
    "V100M16": "nvidia_v100_sxm2_16g",
    "V100M32": "nvidia_v100_sxm2_32g",
    "A10": "nvidia_a10",
    "G2": "alibaba_openb_g2",
    "G3": "alibaba_openb_g3",
}

STACKS = {"cuda", "cann", "rocm", "xpu", "neuware", "dtk", "musa", "supa"}
DOMESTIC_VENDOR_PREFIXES = ("huawei", "kunlunxin", "cambricon", "hygon", "mthreads", "biren")
CLASS_TOKEN = re.compile(r"^(3A090\.[ab]\.[12]|not 3A090|indeterminate|unknown)")

# H20, the reference of DESIGN §1: 400 W, 148 TFLOPS BF16, 4.0 TB/s.
H20_W_PER_TFLOPS = 400 / 148
H20_W_PER_TBS = 400 / 4.0


@pytest.fixture(scope="module")
def csv_rows(shared_data: Path) -> dict[str, dict[str, str]]:
    """accelerators.csv rows by id."""
    path = shared_data / "catalog" / "accelerators.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with path.open(newline="", encoding="utf-8") as f:
        return {row["id"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def catalog() -> Mapping[str, Accelerator]:
    return load_catalog()


def jan2026_from_csv(value: str) -> bool | None:
    return {"yes": True, "no": False, "": None}[value.strip()]


# --- (a) the built-in catalog loads -------------------------------------------------------------


def test_builtin_catalog_loads(catalog: Mapping[str, Accelerator]) -> None:
    assert len(catalog) == len(CSV_IDS) + len(NOT_IN_CSV)
    for acc_id, acc in catalog.items():
        assert acc.id == acc_id
        assert acc.stack in STACKS, acc_id
        assert acc.name and acc.vendor, acc_id


def test_origin_and_stack_follow_the_designer(catalog: Mapping[str, Accelerator]) -> None:
    for acc in catalog.values():
        domestic = acc.id.startswith(DOMESTIC_VENDOR_PREFIXES)
        assert acc.origin == ("CN" if domestic else "US"), acc.id
    expected_stack = {
        "nvidia": "cuda",
        "amd": "rocm",
        "huawei": "cann",
        "kunlunxin": "xpu",
        "cambricon": "neuware",
        "hygon": "dtk",
        "mthreads": "musa",
        "biren": "supa",
        "alibaba": "cuda",
    }
    for acc in catalog.values():
        assert acc.stack == expected_stack[acc.id.split("_")[0]], acc.id


def test_ascend_nodes_hold_eight_and_gangs_respect_the_ring(
    catalog: Mapping[str, Accelerator],
) -> None:
    for acc_id in ("huawei_ascend_910b1", "huawei_ascend_910b2", "huawei_ascend_910b3"):
        assert catalog[acc_id].devices_per_node == 8
        assert catalog[acc_id].node_gang_sizes == (1, 2, 4, 8)
    assert catalog["huawei_ascend_910b4"].node_gang_sizes == (1, 2, 4, 8)
    assert catalog["huawei_ascend_910c"].devices_per_node == 8


# --- (b) every CSV chip is in the catalog ---------------------------------------------------------


@pytest.mark.shared_data
def test_csv_ids_list_is_current(csv_rows: dict[str, dict[str, str]]) -> None:
    assert set(csv_rows) == set(CSV_IDS), "update CSV_IDS to the CSV's id column"


@pytest.mark.shared_data
def test_every_csv_chip_is_in_the_catalog(
    csv_rows: dict[str, dict[str, str]], catalog: Mapping[str, Accelerator]
) -> None:
    missing = sorted(set(csv_rows) - set(catalog))
    assert not missing, f"CSV chips missing from the catalog: {missing}"


# --- (c) computed export-control figures agree with the CSV -------------------------------------


@pytest.mark.shared_data
@pytest.mark.parametrize("chip_id", CSV_IDS)
def test_export_control_agrees_with_csv(
    chip_id: str, csv_rows: dict[str, dict[str, str]], catalog: Mapping[str, Accelerator]
) -> None:
    row = csv_rows[chip_id]
    acc = catalog[chip_id]
    csv_class = CLASS_TOKEN.match(row["eccn_3a090_class_computed"])
    assert csv_class, f"unrecognised class in the CSV: {row['eccn_3a090_class_computed']!r}"
    if chip_id in FILLED_BY_CATALOG:
        # The CSV has no compute for these; the YAML's labelled assumptions fill it.
        assert row["tpp"] == "" and csv_class.group(1) == "unknown", "CSV now has compute data"
        check_expected(acc, FILLED_BY_CATALOG[chip_id])
        return
    computed_tpp = tpp(acc)
    if row["tpp"]:
        assert computed_tpp == pytest.approx(float(row["tpp"]), abs=0.5)
    else:
        assert computed_tpp is None
    computed_pd = performance_density(acc)
    if row["perf_density"]:
        assert computed_pd == pytest.approx(float(row["perf_density"]), abs=0.01)
    else:
        assert computed_pd is None
    assert eccn_3a090_class(acc) == csv_class.group(1)
    jan = row["below_jan2026_limits_tpp_lt21000_and_dram_bw_lt6500"]
    assert jan2026_case_by_case(acc) is jan2026_from_csv(jan)


@pytest.mark.parametrize("chip_id", sorted(NOT_IN_CSV))
def test_export_control_of_entries_not_in_csv(
    chip_id: str, catalog: Mapping[str, Accelerator]
) -> None:
    check_expected(catalog[chip_id], NOT_IN_CSV[chip_id])


def check_expected(acc: Accelerator, expected: Expected) -> None:
    note = f"{acc.id}: {expected.why}"
    if expected.tpp is None:
        assert tpp(acc) is None, note
    else:
        assert tpp(acc) == pytest.approx(expected.tpp), note
    if expected.pd is None:
        assert performance_density(acc) is None, note
    else:
        assert performance_density(acc) == pytest.approx(expected.pd), note
    assert eccn_3a090_class(acc) == expected.eccn_class, note
    assert jan2026_case_by_case(acc) is expected.jan2026, note


# --- (d) every CSV number is in the YAML unless a documented choice -----------------------------


@pytest.mark.shared_data
@pytest.mark.parametrize("chip_id", CSV_IDS)
def test_csv_numbers_equal_yaml_numbers(
    chip_id: str, csv_rows: dict[str, dict[str, str]], catalog: Mapping[str, Accelerator]
) -> None:
    row = csv_rows[chip_id]
    acc = catalog[chip_id]
    for column, field in CSV_FIELDS.items():
        if not row[column]:
            continue
        csv_value = float(row[column])
        yaml_value = getattr(acc, field)
        if (chip_id, field) in DELIBERATE_DIFFERENCES:
            assert row[column] in acc.notes, f"{chip_id}.notes must quote the CSV's {field}"
            continue
        assert yaml_value == pytest.approx(csv_value), f"{chip_id}.{field}"


@pytest.mark.shared_data
@pytest.mark.parametrize("chip_id", CSV_IDS)
def test_figures_the_csv_lacks_are_labelled_assumptions(
    chip_id: str, csv_rows: dict[str, dict[str, str]], catalog: Mapping[str, Accelerator]
) -> None:
    row = csv_rows[chip_id]
    acc = catalog[chip_id]
    csv_has = {field for column, field in CSV_FIELDS.items() if row[column]}
    for group, fields in SOURCE_GROUPS.items():
        added = [f for f in fields if getattr(acc, f) is not None and f not in csv_has]
        if added:
            assert acc.sources[group].startswith("ASSUMPTION:"), (
                f"{chip_id}: {added} are not in the CSV, so sources.{group} must start "
                "with 'ASSUMPTION:' and give the reasoning"
            )


def test_deliberate_differences_name_real_entries(catalog: Mapping[str, Accelerator]) -> None:
    for chip_id, field in DELIBERATE_DIFFERENCES:
        assert chip_id in catalog and hasattr(catalog[chip_id], field)


# --- assumptions: where they are, and the DESIGN §1 sanity check on power -----------------------


def test_pool_chips_without_published_figures_are_usable(
    catalog: Mapping[str, Accelerator],
) -> None:
    for acc_id in (
        "kunlunxin_p800",
        "cambricon_mlu590",
        "hygon_k100_ai",
        "huawei_ascend_910b1",
        "huawei_ascend_910b2",
        "huawei_ascend_910b3",
        "huawei_ascend_910b4",
        "huawei_ascend_910c",
    ):
        assert catalog[acc_id].missing_for_pools() == (), acc_id


def test_chips_without_compute_data_invent_nothing(catalog: Mapping[str, Accelerator]) -> None:
    for acc_id in ("amd_mi308x", "cambricon_mlu690", "hygon_bw1000"):
        acc = catalog[acc_id]
        assert all(getattr(acc, f) is None for f in SOURCE_GROUPS["compute"]), acc_id
        assert acc.tdp_w is None, acc_id


def test_assumed_domestic_power_is_consistent_with_design_section_1(
    catalog: Mapping[str, Accelerator],
) -> None:
    """DESIGN §1: domestic chips need ~30-50 % more electricity per token than the H20.

    Energy per token relative to the H20 lies between the ratio of watts per TFLOPS (all
    compute-bound) and of watts per TB/s (all memory-bound); an assumed TDP must leave
    1.3-1.5 inside that bracket.
    """
    checked = 0
    for acc in catalog.values():
        if acc.origin != "CN" or not acc.sources.get("power", "").startswith("ASSUMPTION"):
            continue
        assert acc.tdp_w and acc.bf16_tflops and acc.mem_bw_tbs, acc.id
        per_compute = (acc.tdp_w / acc.bf16_tflops) / H20_W_PER_TFLOPS
        per_memory = (acc.tdp_w / acc.mem_bw_tbs) / H20_W_PER_TBS
        low, high = sorted((per_compute, per_memory))
        assert low <= 1.3 and high >= 1.5, f"{acc.id}: bracket {low:.2f}-{high:.2f}"
        assert "DESIGN §1" in acc.notes, acc.id
        checked += 1
    assert checked >= 7  # 910B1-4, 910C, P800, MLU590


def test_openb_proxies_are_labelled_assumptions(catalog: Mapping[str, Accelerator]) -> None:
    for acc_id in ("alibaba_openb_g2", "alibaba_openb_g3"):
        acc = catalog[acc_id]
        for group in ("general", "compute", "memory", "power"):
            assert acc.sources[group].startswith("ASSUMPTION:"), f"{acc_id}.sources.{group}"


@pytest.mark.shared_data
def test_every_openb_gpu_model_has_an_entry(
    shared_data: Path, catalog: Mapping[str, Accelerator]
) -> None:
    path = shared_data / "traces" / "alibaba-gpu-v2023" / "data" / "csv"
    nodes = path / "openb_node_list_gpu_node.csv"
    if not nodes.is_file():
        pytest.skip(f"{nodes} not found")
    with nodes.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {r["model"] for r in rows} == set(OPENB_MODELS)
    for code, acc_id in OPENB_MODELS.items():
        acc = catalog[acc_id]
        sizes = {int(r["gpu"]) for r in rows if r["model"] == code}
        assert acc.devices_per_node == max(sizes), acc_id
        assert f"'{code}'" in acc.notes, f"{acc_id}.notes should name openb code {code!r}"


# --- (e) every number has a source ----------------------------------------------------------------


def test_every_number_in_the_builtin_catalog_has_a_source(
    catalog: Mapping[str, Accelerator],
) -> None:
    for acc in catalog.values():
        for group, fields in SOURCE_GROUPS.items():
            if any(getattr(acc, f) is not None for f in fields):
                assert acc.sources.get(group, "").strip(), f"{acc.id}.sources.{group}"


def minimal_entry(**extra: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "id": "test_chip",
        "name": "Test chip",
        "vendor": "Test",
        "origin": "US",
        "stack": "cuda",
    }
    entry.update(extra)
    return entry


def test_an_entry_without_a_source_is_rejected() -> None:
    data = {"accelerators": [minimal_entry(bf16_tflops=100, mem_gb=64, sources={"memory": "x"})]}
    with pytest.raises(InputError) as err:
        parse_catalog(data, "test.yaml")
    fields = [p.field for p in err.value.problems]
    assert fields == ["accelerators[0].sources.compute"]
    assert "bf16_tflops given without a source" in str(err.value)


def test_an_empty_source_is_rejected() -> None:
    data = {"accelerators": [minimal_entry(tdp_w=300, sources={"power": ""})]}
    with pytest.raises(InputError, match=r"sources\.power"):
        parse_catalog(data, "test.yaml")


def test_an_unknown_source_group_is_rejected() -> None:
    data = {"accelerators": [minimal_entry(sources={"flops": "somewhere"})]}
    with pytest.raises(InputError, match="unknown source group"):
        parse_catalog(data, "test.yaml")


def test_an_entry_with_sources_is_accepted() -> None:
    data = {
        "accelerators": [
            minimal_entry(bf16_tflops=100, idle_w=50, sources={"compute": "a", "power": "b"})
        ]
    }
    catalog = parse_catalog(data, "test.yaml")
    assert catalog["test_chip"].bf16_tflops == 100
