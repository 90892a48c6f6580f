"""End to end in a real headless Chromium against a real ``python -m hncf serve`` process, and a load test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

HORROR = ("Horror Movies", "TV Horror")


def items_on(driver, section="suggestions"):
    from selenium.webdriver.common.by import By

    return [e.get_attribute("data-item-id")
            for e in driver.find_elements(By.CSS_SELECTOR, f"#{section} [data-item-id]")]


def genre_rows(driver):
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "table#top-genres tr")
    return [[td.text for td in r.find_elements(By.TAG_NAME, "td")] for r in rows[1:]]


def wait_for_new_page(driver, action):
    """Run ``action`` (a click or a key press) and wait until the browser shows the next page."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    # A flag on the old page's window: it is gone once the next document has loaded. (Waiting for an
    # element to go stale races with Chromium's own navigation and can raise an inspector error.)
    driver.execute_script("window.__hncfOldPage = true;")
    action()
    WebDriverWait(driver, 30, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script("return window.__hncfOldPage !== true && document.readyState === 'complete';"))


def submit_and_wait(driver, button):
    wait_for_new_page(driver, button.click)


def tick_by_search(driver, url, item_id, title):
    """Find ``title`` with the search box, tick ``item_id`` among the results and submit."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.NAME, "q")
    box.clear()
    box.send_keys(title)
    wait_for_new_page(driver, lambda: box.send_keys(Keys.ENTER))
    driver.find_element(By.CSS_SELECTOR, f'#search-results [data-item-id="{item_id}"] input[name="liked"]').click()
    submit_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "#search-results input[type=submit]"))


def screenshot(driver, tmp_path, name) -> Path:
    folder = Path(os.environ.get("HNCF_SCREENSHOT_DIR", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    driver.save_screenshot(str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    return path


def test_chromium_ticks_submits_and_reads_the_next_page(synthetic_server, chromium, tmp_path):
    from selenium.webdriver.common.by import By

    url, catalog = synthetic_server
    genres = pd.read_csv(catalog, dtype=str).set_index("show_id")["listed_in"]
    chromium.get(url + "/")
    first = items_on(chromium)
    assert len(first) == 5 and len(genre_rows(chromium)) == 0
    for item in first[:2]:
        chromium.find_element(By.CSS_SELECTOR, f'[data-item-id="{item}"] input[type=checkbox][name=liked]').click()
    submit_and_wait(chromium, chromium.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    second = items_on(chromium)
    assert len(second) == 5 and not set(second) & set(first)
    assert len(genre_rows(chromium)) >= 1
    # Now three horror titles, found with the search box: the next five are mostly horror.
    horror = [i for i in genres.index if "Horror" in genres[i]][:3]
    titles = pd.read_csv(catalog, dtype=str).set_index("show_id")["title"]
    chromium.get(url + "/reset")
    for item in horror:
        tick_by_search(chromium, url, item, titles[item])
    nxt = items_on(chromium)
    assert len(nxt) == 5 and not set(nxt) & set(horror)
    assert sum("Horror" in genres[i] for i in nxt) >= 3, [genres[i] for i in nxt]
    assert genre_rows(chromium)[0] == ["Horror Movies", "3"]
    screenshot(chromium, tmp_path, "serve_synthetic_horror.png")


def test_load_200_requests_from_a_second_process(synthetic_server, tmp_path):
    url, _ = synthetic_server
    out = tmp_path / "load.json"
    run = subprocess.run([sys.executable, str(Path(__file__).resolve().parents[2] / "benchmarks" / "serve_load.py"),
                          "--url", url, "--requests", "200", "--deadline", "240", "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    res = json.loads(out.read_text())
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert res["errors"] == 0 and res["completed"] == 200
    assert res["submit"]["n"] == 100 and res["api"]["n"] == 100
    assert res["overall"]["p95_ms"] >= res["overall"]["p50_ms"] > 0  # reported, not asserted against a bar


def test_loopback_only(tmp_path):
    run = subprocess.run([sys.executable, str(Path(__file__).resolve().parents[2] / "benchmarks" / "serve_load.py"),
                          "--url", "http://example.com:80", "--requests", "1"], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode != 0 and "refusing non-loopback" in run.stderr


@pytest.mark.real_data
def test_real_catalogue_three_horror_titles(real_dataset, chromium, serve_helpers, tmp_path):
    """Real catalogue, real MiniLM (embeddings cached in ~/.cache/hncf/features after the first run)."""
    from hncf.experiments.quick import minilm_path

    catalog = real_dataset("netflix-titles") / "netflix_titles.csv"
    frame = pd.read_csv(catalog, dtype=str, keep_default_na=False).set_index("show_id")
    proc, url = serve_helpers.start(["--catalog", catalog, "--text-encoder", minilm_path(), "--quiet"],
                                    tmp_path / "serve.log", timeout=600)
    try:
        chromium.get(url + "/")
        horror = [i for i in frame.index if frame.loc[i, "listed_in"] == "Horror Movies"][:3]
        for item in horror:
            tick_by_search(chromium, url, item, frame.loc[item, "title"])
        nxt = items_on(chromium)
        shot = screenshot(chromium, tmp_path, "serve_real_horror.png")
        kinds = [frame.loc[i, "listed_in"] for i in nxt]
        assert len(nxt) == 5 and sum(any(h in k for h in HORROR) for k in kinds) >= 3, kinds
        rows = genre_rows(chromium)
        assert rows[0] == ["Horror Movies", "3"], rows
        print(f"screenshot: {shot}; next five: {[(frame.loc[i, 'title'], k) for i, k in zip(nxt, kinds)]}")
    finally:
        serve_helpers.stop(proc)
