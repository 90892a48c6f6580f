"""A real ``python -m hncf serve`` process on a free loopback port, and a headless Chromium to drive it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1000,1300")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args, log_path: Path, timeout: float = 300.0):
    """Start ``python -m hncf serve ARGS`` and wait for /healthz; returns ``(process, url)``."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               TF_CPP_MIN_LOG_LEVEL="3")
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "hncf", "serve", *map(str, args), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(REPO))
    url = f"http://127.0.0.1:{port}"
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if proc.poll() is not None:
            log.close()
            raise RuntimeError(f"serve exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError(f"serve did not answer /healthz within {timeout} s:\n{log_path.read_text()[-3000:]}")


def stop_server(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def synthetic_server(tmp_path_factory):
    """``(url, catalogue path)`` of a content-only server on 60 synthetic titles with the real MiniLM."""
    from hncf.data.netflix import write_synthetic_netflix_titles
    from hncf.experiments.quick import minilm_path

    root = tmp_path_factory.mktemp("serve")
    catalog = write_synthetic_netflix_titles(root / "netflix_titles.csv", n=60)
    proc, url = start_server(["--catalog", catalog, "--text-encoder", minilm_path(), "--cache-dir", root / "cache",
                              "--quiet"], root / "serve.log")
    yield url, catalog
    stop_server(proc)


@pytest.fixture
def chromium(tmp_path):
    """A headless Chromium driven by Selenium; skips (saying why) when no browser is installed."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    binary = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)),
                  None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        pytest.skip("no Chromium + chromedriver installed (apt-get install -y chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def serve_helpers():
    """``start_server(args, log_path)`` and ``stop_server(proc)`` for tests that need their own server."""
    from types import SimpleNamespace

    return SimpleNamespace(start=start_server, stop=stop_server, repo=REPO)
