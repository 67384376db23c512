"""The report page in a real headless Chromium: it renders, loads nothing, logs no error.

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package. Without them
the tests skip, unless ``PRIVSYNTH_REQUIRE_BROWSER=1`` (set in CI), when they fail.
Set ``PRIVSYNTH_REPORT_SCREENSHOT=path.png`` to keep the full-page screenshot for a look.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from privsynth.evaluate import evaluate
from privsynth.evaluate.inputs import prepare
from privsynth.privacy.events import GaussianEvent
from privsynth.privacy.ledger import Ledger
from privsynth.report import NOT_PRIVATE, build_report
from privsynth.report.attacks import SIMILARITY
from privsynth.toy import toy_table

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def _missing(reason: str) -> None:
    if os.environ.get("PRIVSYNTH_REQUIRE_BROWSER") == "1":
        pytest.fail(f"PRIVSYNTH_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium driven by chromedriver, logging the browser console."""
    binary = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    driver_path = shutil.which("chromedriver")
    if binary is None:
        _missing("no chromium binary found (apt-get install chromium chromium-driver)")
    if driver_path is None:
        _missing("no chromedriver found (apt-get install chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("the selenium package is not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument("--window-size=1280,1000")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _open(driver, path: Path) -> tuple[list[dict], list[str]]:
    """Load ``path``; return the console errors (SEVERE entries: script errors and failed
    loads) and the URL of every request the page made, from the DevTools network events."""
    driver.get_log("browser")  # drop entries of an earlier page
    driver.get_log("performance")
    driver.get(path.resolve().as_uri())
    assert driver.execute_script("return document.readyState") == "complete"
    errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            requests.append(message["params"]["request"]["url"])
    return errors, requests


@pytest.fixture(scope="module")
def report_page(tmp_path_factory) -> Path:
    real, schema = toy_table("four_modes", 1500, np.random.default_rng(0))
    synth, _ = toy_table("four_modes", 1500, np.random.default_rng(1))
    prepared = prepare({"real": real, "synthetic": synth}, schema)
    ledger = Ledger(1.0, 1e-9)
    ledger.spend(GaussianEvent(sigma=20.0, sensitivity=1.0), label="one-way marginals")
    roc = {"fpr": [0.0, 0.2, 0.5, 1.0], "tpr": [0.0, 0.25, 0.55, 1.0]}
    attacks = {
        "attacks": {
            "classifier": {
                "auc": 0.52,
                "auc_ci": [0.47, 0.57],
                "evidence": "privacy attack",
                "roc": roc,
            },
            "dcr": {"auc": 0.5, "evidence": SIMILARITY, "roc": roc},
        }
    }
    rng = np.random.default_rng(0)
    images = {
        "synthetic": {
            "images": rng.integers(0, 256, (20, 14, 14), dtype=np.uint8),
            "labels": np.repeat(np.arange(2), 10),
        },
        "real": rng.integers(0, 256, (10, 14, 14), dtype=np.uint8),
    }
    html, _ = build_report(
        evaluation=evaluate(real, synth, schema, seed=0).to_dict(),
        prepared=prepared,
        ledger=ledger.to_dict(),
        attacks=attacks,
        audit={"claimed_epsilon": 1.0, "delta": 1e-9, "epsilon_lower_bound": 0.3, "method": "x"},
        images=images,
        title="Browser check report",
    )
    path = tmp_path_factory.mktemp("page") / "report.html"
    path.write_text(html, encoding="utf-8")
    return path


def test_report_renders_in_chromium(browser, report_page):
    from PIL import Image
    from selenium.webdriver.common.by import By

    errors, requests = _open(browser, report_page)
    assert errors == [], errors
    page = report_page.resolve().as_uri()
    assert [u for u in requests if u != page and not u.startswith("data:")] == [], requests
    assert browser.find_element(By.TAG_NAME, "h1").text == "Browser check report"
    headings = [h.text for h in browser.find_elements(By.TAG_NAME, "h2")]
    for title in (
        "Privacy ledger",
        "Fidelity",
        "Utility",
        "Privacy attacks",
        "Privacy audit",
        "Images",
    ):
        assert any(h.startswith(title) for h in headings), (title, headings)
    banner = browser.find_element(By.CSS_SELECTOR, ".banner")
    assert banner.is_displayed() and NOT_PRIVATE in banner.text
    charts = browser.execute_script(
        "return [...document.querySelectorAll('svg.chart')].map(s => s.getBoundingClientRect().width)"
    )
    assert len(charts) >= 6 and min(charts) > 100, charts
    images = browser.execute_script(
        "return [...document.images].map(i => i.complete && i.naturalWidth > 0)"
    )
    assert images == [True, True]

    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(int(height) + 100, 12000))
    png = browser.get_screenshot_as_png()
    if target := os.environ.get("PRIVSYNTH_REPORT_SCREENSHOT"):
        Path(target).write_bytes(png)
    shot = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    packed = shot.astype(np.uint32) @ np.array([1 << 16, 1 << 8, 1], dtype=np.uint32)
    colours = np.unique(packed)
    not_white = (shot.min(axis=2) < 235).mean()
    assert len(colours) > 200, len(colours)
    assert 0.03 < not_white < 0.9, not_white


def test_harness_sees_errors_and_loads(browser, tmp_path):
    """The checks above are not vacuous: a script error and a failed load are both caught."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><body><h1>bad</h1><img src='missing.png'>"
        "<script>throw new Error('boom')</script></body></html>",
        encoding="utf-8",
    )
    errors, requests = _open(browser, page)
    text = " ".join(e["message"] for e in errors)
    assert "boom" in text and "missing.png" in text, text
    assert any(u.endswith("missing.png") for u in requests), requests
