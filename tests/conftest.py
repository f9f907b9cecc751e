"""Shared pytest configuration. Fixtures for real local infrastructure live in plugins."""

pytest_plugins = ["tests.fixtures_infra"]
