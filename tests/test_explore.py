"""`condgan explore`: requests are checked (a bad one is a message, never a traceback), the server answers
only on 127.0.0.1, and — in a real headless Chromium — moving a control changes the images, a refused
request shows its message on the page, and a slow generation shows progress."""
from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import condgan
from condgan.explore import BadRequest, Explorer, make_server


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny digits run with stored metrics: a logged FID row and an evaluation JSON."""
    from condgan.config import load_config
    from conftest import tiny
    folder = tmp_path_factory.mktemp("explore") / "run"
    condgan.train(load_config("digits", tiny({"train.steps": 2})), folder, progress=False)
    with open(folder / "stats.jsonl", "a") as f:
        f.write(json.dumps({"step": 2, "metric/fid": 321.5}) + "\n")
    (folder / "metrics-final.json").write_text(json.dumps({"fid": 300.5, "step": 2, "intra_fid": {"0": 1.0}}))
    return folder


@pytest.fixture(scope="module")
def explorer(run) -> Explorer:
    import torch
    return Explorer.open(run, torch.device("cpu"))


def _decode(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


# ---------------------------------------------------------------------------------------------- without a browser


def test_requests_are_checked(explorer):
    info = explorer.info()
    assert info["class_names"] == [str(c) for c in range(10)] and info["conditional"]
    assert ["preset", "digits"] in info["config"] and info["metrics"][0][0] == "fid"
    assert info["evaluations"][0]["values"]["fid"] == 300.5
    grid = _decode(explorer.sample({"classes": "0, 7", "truncation": "1", "seed": "3", "per_class": "4"})["image"])
    assert grid.shape == (2 * 17 - 1, 4 * 17 - 1)  # 2 rows x 4 columns of 16 px, 1-px gaps
    other = _decode(explorer.sample({"classes": "0, 7", "truncation": "0.2", "seed": "3", "per_class": "4"})["image"])
    assert not np.array_equal(grid, other)
    strip = explorer.interpolate({"mode": "class", "class_a": "1", "class_b": "9", "seed": "2", "frames": "5"})
    assert _decode(strip["image"]).shape == (16, 5 * 17 - 1) and "1 → class 9" in strip["label"]
    bad = [({"classes": "0,seven"}, "Unknown class 'seven'"), ({"classes": "12"}, "Unknown class '12'"),
           ({"classes": ""}, "at least one class"), ({"classes": "1", "truncation": "7"}, "outside (0, 4]"),
           ({"classes": "1", "truncation": "-0.5"}, "outside"), ({"classes": "1", "truncation": "nan"}, "outside"),
           ({"classes": "1", "truncation": "abc"}, "not a number"), ({"classes": "1", "per_class": "99"}, "outside"),
           ({"classes": "1", "seed": "1.5"}, "not a whole number")]
    for query, message in bad:
        with pytest.raises(BadRequest, match=message.replace("(", r"\(").replace("]", r"\]")):
            explorer.sample(query)
    with pytest.raises(BadRequest, match="mode 'w'"):
        explorer.interpolate({"mode": "w"})


@pytest.fixture
def server(explorer):
    srv = make_server(explorer, 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _get(url: str, host: str | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_server_answers_errors_as_json_messages(server, explorer, monkeypatch):
    assert server.server_address[0] == "127.0.0.1"
    status, body = _get(server.url + "api/sample?classes=3,eight&truncation=1")
    assert status == 400
    assert body == {"error": "Unknown class 'eight': use a class name (0, 1, 2, ...) or an id in 0–9."}
    status, body = _get(server.url + "api/interpolate?mode=z&class=2&truncation=9")
    assert status == 400 and "outside (0, 4]" in body["error"]
    assert _get(server.url + "nothing")[0] == 404
    assert _get(server.url + "api/info", host="attacker.example:80")[0] == 403

    def broken(query):
        raise RuntimeError("a bug")
    monkeypatch.setattr(explorer, "sample", broken)
    status, body = _get(server.url + "api/sample?classes=1")
    assert status == 500 and "RuntimeError" in body["error"] and "Traceback" not in body["error"]
    with urllib.request.urlopen(server.url, timeout=30) as r:
        page = r.read().decode()
    assert "<script>" in page and "src=\"http" not in page and "https://" not in page  # inline, offline


# ---------------------------------------------------------------------------------------------- in a browser


def _browser():
    """A headless Chromium driven over WebDriver, or a skip that names what is missing."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[test]')")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("no headless browser: chromium and chromedriver are not on PATH "
                    "(Debian: apt-get install chromium chromium-driver; .ci/browser does it in CI)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1200,1000"):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service(driver))


def _start_cli(run: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """`condgan explore RUN --port 0` as a user runs it; returns the process and the address it prints."""
    import queue
    with open(log, "w") as err:  # the child keeps its own copy of the file
        proc = subprocess.Popen([sys.executable, "-m", "condgan", "explore", str(run), "--port", "0", "--device",
                                 "cpu"], stdout=subprocess.PIPE, stderr=err, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if "http://127.0.0.1:" in line:
            return proc, line[line.index("http://"):].split()[0]
    proc.kill()
    raise AssertionError(f"condgan explore printed no address: {log.read_text()[-2000:]}")


def test_explorer_in_a_browser(run, explorer, tmp_path):
    browser = _browser()  # first: skips when there is none
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    proc, url = _start_cli(run, tmp_path / "explore.log")
    wait = WebDriverWait(browser, 60)
    try:
        browser.get(url)
        seq = lambda id_: int(browser.find_element(By.ID, id_).get_attribute("data-seq"))  # noqa: E731
        wait.until(lambda b: seq("grid") >= 1)
        first = _decode(browser.find_element(By.ID, "grid").get_attribute("src"))
        assert first.shape == (5 * 17 - 1, 6 * 17 - 1)  # 5 classes x 6 per class, at 16 px
        text = browser.find_element(By.TAG_NAME, "body").text
        assert "step 2" in text and "digits" in text and "321.5" in text and "300.5" in text  # config, metrics

        # move the truncation slider with the keyboard: new images
        slider = browser.find_element(By.ID, "truncation")
        slider.send_keys(Keys.ARROW_LEFT * 12)  # 1.0 -> 0.4
        wait.until(lambda b: seq("grid") >= 2 and b.execute_script("return document.body.dataset.busy") == "0")
        assert browser.find_element(By.ID, "truncation-value").get_attribute("value") == "0.4"
        moved = _decode(browser.find_element(By.ID, "grid").get_attribute("src"))
        assert moved.shape == first.shape and np.abs(moved.astype(int) - first).mean() > 1
        shown = browser.find_element(By.ID, "classes").get_attribute("value")
        assert shown.replace(" ", "") == "0,2,5,7,9"  # five classes spread over the ten
        expected = _decode(explorer.sample({"classes": shown, "truncation": "0.4", "seed": "0",
                                            "per_class": "6"})["image"]).astype(int)
        assert np.abs(moved - expected).mean() < 0.05  # the server's process computes with other thread counts

        # interpolate across classes: a strip of 8 frames
        browser.find_element(By.CSS_SELECTOR, "#interp-mode option[value=class]").click()
        browser.find_element(By.ID, "interp-run").click()
        wait.until(lambda b: seq("interp") >= 1)
        assert _decode(browser.find_element(By.ID, "interp").get_attribute("src")).shape == (16, 8 * 17 - 1)
        browser.save_screenshot(str(tmp_path / "explorer.png"))

        # bad requests: the server's message on the page, the images as they were
        message = browser.find_element(By.ID, "message")
        classes = browser.find_element(By.ID, "classes")
        classes.clear()
        classes.send_keys("0, seven", Keys.TAB)
        wait.until(lambda b: "Unknown class 'seven'" in message.text)
        classes.clear()
        classes.send_keys("3", Keys.TAB)
        wait.until(lambda b: seq("grid") >= 3 and not message.text)
        value = browser.find_element(By.ID, "truncation-value")
        value.clear()
        value.send_keys("7", Keys.TAB)
        wait.until(lambda b: "outside (0, 4]" in message.text)
        assert "Traceback" not in browser.page_source and seq("grid") == 3
        assert "Traceback" not in (tmp_path / "explore.log").read_text()  # refused, not failed
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        proc.stdout.close()
        browser.quit()
    with Image.open(tmp_path / "explorer.png") as shot:
        assert shot.size[0] >= 1000 and shot.size[1] >= 600


def test_a_slow_generation_shows_progress(explorer, monkeypatch):
    """Generation that takes 1.8 s: the page shows the progress bar with the time, then the new images."""
    browser = _browser()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    fast = explorer.sample

    def slow(query):
        time.sleep(1.8)
        return fast(query)
    monkeypatch.setattr(explorer, "sample", slow)
    srv = make_server(explorer, 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        browser.get(srv.url)
        progress = browser.find_element(By.ID, "progress")
        WebDriverWait(browser, 30, poll_frequency=0.05).until(lambda b: "on" in progress.get_attribute("class"))
        assert progress.is_displayed() and "generating… 1." in progress.text
        assert browser.find_element(By.ID, "grid").get_attribute("data-seq") == "0"
        WebDriverWait(browser, 30).until(lambda b: b.find_element(By.ID, "grid").get_attribute("data-seq") == "1")
        assert not progress.is_displayed()
    finally:
        browser.quit()
        srv.shutdown()
        srv.server_close()
