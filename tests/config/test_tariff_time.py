"""Time-of-use tariffs in each site's local time: time zones, DST, days and holidays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from suanli.config import load_scenario
from suanli.model.scenario import Scenario
from tests.config.test_bad_input import problems_of, tiny, write

# Friday 2026-03-06 00:00 UTC, four days: the US switches to daylight time on Sunday
# 2026-03-08 at 02:00 local (EST, UTC-5 → EDT, UTC-4).
START = "2026-03-06T00:00:00+00:00"
HOURS = 96


def scenario_with(tmp_path: Path, tariff: dict[str, Any], timezone: str | None) -> Scenario:
    data = tiny()
    data["horizon"] = {"start": START, "hours": HOURS}
    data["sites"][0]["tariff"] = tariff
    if timezone is not None:
        data["sites"][0]["timezone"] = timezone
    return load_scenario(write(tmp_path, data))


def peak_hours(sc: Scenario, name: str = "peak") -> list[int]:
    return [h for h, p in enumerate(sc.sites[0].tariff.periods) if p == name]


def test_new_york_peak_at_the_right_utc_hours_across_dst(tmp_path: Path) -> None:
    tariff = {
        "base_per_kwh": 0.1,
        "time_of_use": [{"name": "peak", "multiplier": 2.0, "hours": ["16-21"]}],
    }
    sc = scenario_with(tmp_path, tariff, "America/New_York")
    # 16-21 EST is 21-02 UTC (until Saturday's local day); 16-21 EDT is 20-01 UTC.
    thu = [0, 1]  # Thursday's local peak ends at 02:00 UTC on Friday
    fri = list(range(21, 26))
    sat = list(range(24 + 21, 24 + 26))
    sun = list(range(48 + 20, 48 + 25))  # daylight time from Sunday 02:00 local
    mon = list(range(72 + 20, 96))  # the last hour is past the horizon
    assert peak_hours(sc) == thu + fri + sat + sun + mon
    prices = sc.sites[0].tariff.price.values
    assert prices[21] == pytest.approx(0.2) and prices[20] == pytest.approx(0.1)
    assert prices[48 + 20] == pytest.approx(0.2) and prices[48 + 25] == pytest.approx(0.1)


def test_without_a_timezone_the_horizon_offset_is_used(tmp_path: Path) -> None:
    tariff = {
        "base_per_kwh": 0.1,
        "time_of_use": [{"name": "peak", "multiplier": 2.0, "hours": ["16-21"]}],
    }
    sc = scenario_with(tmp_path, tariff, None)
    assert peak_hours(sc) == [d * 24 + h for d in range(4) for h in range(16, 21)]
    same = scenario_with(tmp_path, tariff, "UTC")
    assert same.sites[0].tariff == sc.sites[0].tariff


def test_a_shanghai_site_matches_a_plus_eight_horizon(tmp_path: Path) -> None:
    data = tiny()
    plain = load_scenario(write(tmp_path, data, "plain.yaml"))
    data["sites"][0]["timezone"] = "Asia/Shanghai"
    zoned = load_scenario(write(tmp_path, data, "zoned.yaml"))
    assert zoned.sites[0].tariff == plain.sites[0].tariff


WEEK_TARIFF: dict[str, Any] = {
    "base_per_kwh": 1.0,
    "time_of_use": [
        {"name": "peak", "multiplier": 2.0, "hours": ["08-20"], "days": ["weekday"]},
        {"name": "weekend", "multiplier": 0.5, "hours": ["00-24"], "days": ["weekend"]},
        {"name": "monday-night", "multiplier": 0.8, "hours": ["20-24"], "days": ["mon"]},
    ],
}


def test_weekday_and_weekend_periods(tmp_path: Path) -> None:
    sc = scenario_with(tmp_path, WEEK_TARIFF, "UTC")
    periods = sc.sites[0].tariff.periods
    friday, saturday, sunday, monday = (periods[d * 24 : (d + 1) * 24] for d in range(4))
    assert friday == ("flat",) * 8 + ("peak",) * 12 + ("flat",) * 4
    assert saturday == ("weekend",) * 24 and sunday == ("weekend",) * 24
    assert monday == ("flat",) * 8 + ("peak",) * 12 + ("monday-night",) * 4
    assert sc.sites[0].tariff.price.values[24] == pytest.approx(0.5)


def test_a_holiday_is_billed_as_a_weekend_day(tmp_path: Path) -> None:
    sc = scenario_with(tmp_path, {**WEEK_TARIFF, "holidays": ["2026-03-09"]}, "UTC")
    periods = sc.sites[0].tariff.periods
    assert periods[:24] == ("flat",) * 8 + ("peak",) * 12 + ("flat",) * 4
    assert periods[72:] == ("weekend",) * 24  # Monday 9 March: neither weekday nor 'mon'


def test_holidays_are_local_dates(tmp_path: Path) -> None:
    tariff = {
        "base_per_kwh": 1.0,
        "holidays": ["2026-03-09"],
        "time_of_use": [
            {"name": "holiday", "multiplier": 0.5, "hours": ["00-24"], "days": ["weekend"]}
        ],
    }
    sc = scenario_with(tmp_path, tariff, "Asia/Tokyo")  # UTC+9
    periods = sc.sites[0].tariff.periods
    # In Tokyo, Saturday 7 March starts at 15:00 UTC on the 6th (hour 15), and the
    # holiday Monday 9 March ends at 15:00 UTC on the 9th (hour 87).
    assert periods == ("flat",) * 15 + ("holiday",) * 72 + ("flat",) * 9


def test_unknown_timezone_is_named(tmp_path: Path) -> None:
    data = tiny()
    data["sites"][1]["timezone"] = "America/NewYork"
    [problem] = problems_of(write(tmp_path, data))
    assert "sites[1].timezone" in problem
    assert "unknown time zone 'America/NewYork'" in problem
    assert "did you mean 'America/New_York'" in problem and "IANA" in problem


def test_overlap_on_the_same_kind_of_day(tmp_path: Path) -> None:
    data = tiny()
    data["sites"][0]["tariff"]["time_of_use"] = [
        {"name": "peak", "multiplier": 2.0, "hours": ["16-21"], "days": ["weekday"]},
        {"name": "monday", "multiplier": 1.5, "hours": ["18-19"], "days": ["mon"]},
    ]
    [problem] = problems_of(write(tmp_path, data))
    assert "sites[0].tariff.time_of_use" in problem
    assert "periods peak, monday overlap at 18:00 in month 1 on mon" in problem


def test_overlap_outside_the_horizon_is_still_an_error(tmp_path: Path) -> None:
    data = tiny()  # a day in March
    data["sites"][0]["tariff"]["time_of_use"] = [
        {"name": "peak", "multiplier": 2.0, "hours": ["16-21"]},
        {"name": "summer", "multiplier": 3.0, "hours": ["20-22"], "months": [7, 8]},
    ]
    [problem] = problems_of(write(tmp_path, data))
    assert "periods peak, summer overlap at 20:00 in month 7" in problem


def test_weekday_and_weekend_periods_may_share_hours(tmp_path: Path) -> None:
    data = tiny()
    data["sites"][0]["tariff"]["time_of_use"] = [
        {"name": "peak", "multiplier": 2.0, "hours": ["16-21"], "days": ["weekday"]},
        {"name": "sat", "multiplier": 1.2, "hours": ["16-21"], "days": ["sat"]},
        {"name": "sun", "multiplier": 0.9, "hours": ["00-24"], "days": ["sun"]},
    ]
    load_scenario(write(tmp_path, data))


def test_unknown_day_name(tmp_path: Path) -> None:
    data = tiny()
    data["sites"][0]["tariff"]["time_of_use"][0]["days"] = ["monday"]
    problems = problems_of(write(tmp_path, data))
    assert any("sites[0].tariff.time_of_use[0].days[0]" in p and "'weekday'" in p for p in problems)


def test_holidays_need_time_of_use(tmp_path: Path) -> None:
    rows = ["time,price"] + [f"2026-03-02T{h:02d}:00:00+08:00,0.5" for h in range(24)]
    (tmp_path / "prices.csv").write_text("\n".join(rows) + "\n")
    data = tiny()
    data["sites"][1]["tariff"] = {
        "series": {"path": "prices.csv", "time_column": "time", "value_column": "price"},
        "holidays": ["2026-03-02"],
    }
    [problem] = problems_of(write(tmp_path, data))
    assert "sites[1].tariff" in problem and "holidays apply to time_of_use" in problem


@pytest.mark.parametrize("zone", ["", "Europe", "a" * 5000, "../etc/passwd", "UTC\x00"])
def test_odd_timezone_names_are_problems(tmp_path: Path, zone: str) -> None:
    data = tiny()
    data["sites"][1]["timezone"] = zone
    [problem] = problems_of(write(tmp_path, data))
    assert "sites[1].timezone" in problem and "unknown time zone" in problem
