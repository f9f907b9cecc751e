"""One reporting currency: other currencies need an exchange rate and are converted once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from suanli.config import load_scenario
from tests.config.test_bad_input import problems_of, tiny, write
from tests.conftest import run_cli


def usd_scenario() -> dict[str, Any]:
    data = tiny()
    data["currency"] = "USD"
    east = data["sites"][0]
    east["tariff"]["currency"] = "EUR"
    east["tariff"]["base_per_kwh"] = 0.2
    east["subsidies"] = [
        {"name": "s", "eligible": "all_accelerators", "discount_fraction": 0.5,
         "min_price_per_kwh": 0.1}
    ]  # fmt: skip
    return data


def test_prices_in_another_currency_are_converted(tmp_path: Path) -> None:
    data = usd_scenario()
    data["exchange_rates"] = {"EUR": 1.1, "CNY": 0.14}
    data["links"]["default"]["currency"] = "CNY"
    data["links"]["explicit"] = [
        {"between": ["east", "west"], "bandwidth_gbps": 10, "latency_ms": 5,
         "cost_per_gb": 0.5, "currency": "EUR"}
    ]  # fmt: skip
    data["sites"][1]["tariff"]["currency"] = "USD"
    sc = load_scenario(write(tmp_path, data))
    east, west = sc.sites
    assert sc.currency == "USD"
    assert east.tariff.currency == "USD" and west.tariff.currency == "USD"
    # valley 0.5, flat 1, peak 1.6 (local hours from the +08:00 horizon)
    assert east.tariff.price.values[0] == pytest.approx(0.2 * 1.1 * 0.5)
    assert east.tariff.price.values[12] == pytest.approx(0.2 * 1.1)
    assert "converted from EUR at 1.1 USD/EUR" in east.tariff.source
    assert east.subsidies[0].min_price_per_kwh == pytest.approx(0.11)
    assert west.tariff.price.values == (0.45,) * 24  # already USD
    [link] = sc.links
    assert link.cost_per_gb == pytest.approx(0.55)


def test_default_link_cost_converted(tmp_path: Path) -> None:
    data = usd_scenario()
    data["exchange_rates"] = {"EUR": 1.1, "CNY": 0.14}
    data["links"]["default"]["currency"] = "CNY"
    sc = load_scenario(write(tmp_path, data))
    [link] = sc.links
    assert link.cost_per_gb == pytest.approx(0.05 * 0.14)


def test_prices_default_to_the_scenario_currency(tmp_path: Path) -> None:
    data = tiny()
    data["currency"] = "USD"
    sc = load_scenario(write(tmp_path, data))
    assert [s.tariff.currency for s in sc.sites] == ["USD", "USD"]
    assert sc.sites[1].tariff.price.values == (0.45,) * 24


def test_missing_rate_is_named(tmp_path: Path) -> None:
    data = usd_scenario()
    data["links"]["default"]["currency"] = "GBP"
    problems = problems_of(write(tmp_path, data))
    assert len(problems) == 2, problems
    tariff, link = problems
    assert "sites[0].tariff.currency" in tariff
    assert "tariff in EUR, but the scenario reports in USD" in tariff
    assert "exchange_rates: {EUR: <USD per EUR>}" in tariff
    assert "links.default.currency" in link and "GBP" in link


def test_missing_rate_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, usd_scenario())
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "sites[0].tariff.currency" in result.stderr and "exchange_rates" in result.stderr


def test_rate_of_the_reporting_currency_must_be_one(tmp_path: Path) -> None:
    data = tiny()
    data["exchange_rates"] = {"CNY": 7.1}
    [problem] = problems_of(write(tmp_path, data))
    assert "exchange_rates.CNY" in problem and "not 1" in problem


def test_rates_must_be_positive(tmp_path: Path) -> None:
    data = usd_scenario()
    data["exchange_rates"] = {"EUR": 0}
    [problem] = problems_of(write(tmp_path, data))
    assert "exchange_rates" in problem and "positive" in problem


def test_series_tariff_is_converted(tmp_path: Path) -> None:
    rows = ["time,price"] + [f"2026-03-02T{h:02d}:00:00+08:00,0.5" for h in range(24)]
    (tmp_path / "prices.csv").write_text("\n".join(rows) + "\n")
    data = tiny()
    data["exchange_rates"] = {"EUR": 7.5}
    data["sites"][1]["tariff"] = {
        "currency": "EUR",
        "series": {"path": "prices.csv", "time_column": "time", "value_column": "price"},
    }
    sc = load_scenario(write(tmp_path, data))
    assert sc.sites[1].tariff.currency == "CNY"
    assert sc.sites[1].tariff.price.values == pytest.approx((3.75,) * 24)
