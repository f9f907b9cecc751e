"""Scenario files: the YAML format (:mod:`.schema`), checks and building (:mod:`.build`),
and the loader (:func:`load_scenario`)."""

from suanli.config.loader import load_scenario, parse_scenario, read_scenario_text

__all__ = ["load_scenario", "parse_scenario", "read_scenario_text"]
