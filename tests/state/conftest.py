"""The damaged-state tests report how many damaged states they tried, at the end of the run."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    tried = sum(
        value
        for report in terminalreporter.stats.get("passed", [])
        for name, value in getattr(report, "user_properties", [])
        if name == "damaged_states"
    )
    if tried:
        terminalreporter.write_line(f"damaged states tried: {tried}")
