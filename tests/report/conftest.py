"""A real headless Chromium (Debian's ``chromium`` + ``chromium-driver``) driven by Selenium.

Without Chromium the tests skip with the reason on a developer's machine; with ``CI``
set (``.ci/run`` installs it) that is a failure. Selenium is given the driver's path,
so it never downloads one; the browser is offline (DevTools network emulation and a
proxy on a closed port), and every request it attempts is read from its performance
log.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1400,1000",
    # Plotly's parallel coordinates draw with WebGL: software rendering, no GPU
    "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
    # anything that tries the network goes to a closed port
    "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
)

def _missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is missing (apt-get install -y chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (it is in the default hatch environment)"
    return None


class Page:
    """One report opened from file:// in the browser, with what the browser logged."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def open(self, path: Path) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver.get_log("performance")  # forget what an earlier page did
        self.driver.get_log("browser")
        self.driver.get(path.resolve().as_uri())
        WebDriverWait(self.driver, 60).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
            and d.execute_script("return document.querySelectorAll('#parcoords.js-plotly-plot, #parcoords .empty').length") > 0
        )

    def js(self, script: str, *arguments: Any) -> Any:
        return self.driver.execute_script(script, *arguments)

    def find(self, selector: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def find_all(self, selector: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, selector))

    def type_into(self, selector: str, text: str) -> None:
        box = self.find(selector)
        # clear() fires no input event: empty the box as a user would, then type
        self.js("arguments[0].value = ''; arguments[0].dispatchEvent(new Event('input'))", box)
        if text:
            box.send_keys(text)

    def console_errors(self) -> list[str]:
        return [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def requests(self) -> list[str]:
        """Every URL the page asked for since it was opened (file:// and data: included).

        Requests of the browser's own pages (`chrome://`: the new-tab page a fresh
        Chromium loads in the background at its start) are not the page's.
        """
        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                if str(message["params"].get("documentURL", "")).startswith("chrome://"):
                    continue
                urls.append(message["params"]["request"]["url"])
        return urls

    def column(self, table: str, name: str) -> list[str]:
        """The texts of one column on the table's current page."""
        return [cell.text for cell in self.find_all(f"{table} tbody td[data-column='{name}']")]

    def every_row(self, table: str, name: str) -> list[str]:
        """One column over every page of a table, paging with its 'next' button."""
        values = self.column(table, name)
        while self.find(f"{table} button.next").is_enabled():
            self.find(f"{table} button.next").click()
            values += self.column(table, name)
        return values

    def page_info(self, table: str) -> str:
        return str(self.find(f"{table} .page-info").text)


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for the session (offline, fresh profile)."""
    problem = _missing()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but the browser tests cannot run: {problem}")
        pytest.skip(problem)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(chromium: Any) -> Page:
    return Page(chromium)
