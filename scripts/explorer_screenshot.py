"""The README's picture of `condgan explore`: start the explorer on a run, open it in headless Chromium,
interpolate across two classes and save a screenshot (PNG, palette-reduced to stay small).

    python scripts/explorer_screenshot.py RUN --out docs/explorer.png

Needs Debian's `chromium` and `chromium-driver` and the `selenium` package (the `test` extra).
"""
from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="run folder, checkpoint or .safetensors snapshot")
    p.add_argument("--out", default="docs/explorer.png")
    p.add_argument("--classes", default=None, help="classes to show (default: the page's choice)")
    p.add_argument("--truncation", default="0.8")
    p.add_argument("--size", default="1200,900", help="window width,height in pixels")
    args = p.parse_args()

    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    chromium, driver = shutil.which("chromium") or shutil.which("google-chrome"), shutil.which("chromedriver")
    if not chromium or not driver:
        sys.exit("explorer_screenshot: chromium and chromedriver must be on PATH (apt-get install chromium "
                 "chromium-driver)")
    server = subprocess.Popen([sys.executable, "-m", "condgan", "explore", args.run, "--port", "0"],
                              stdout=subprocess.PIPE, text=True)
    url = next(line for line in server.stdout if "http://127.0.0.1:" in line)
    url = url[url.index("http://"):].split()[0]
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={args.size}",
              "--hide-scrollbars"):
        options.add_argument(a)
    browser = webdriver.Chrome(options=options, service=Service(driver))
    try:
        wait = WebDriverWait(browser, 120)
        browser.get(url)
        seq = lambda id_: int(browser.find_element(By.ID, id_).get_attribute("data-seq"))  # noqa: E731
        wait.until(lambda b: seq("grid") >= 1)
        if args.classes:
            box = browser.find_element(By.ID, "classes")
            box.clear()
            box.send_keys(args.classes, Keys.TAB)
        value = browser.find_element(By.ID, "truncation-value")
        value.clear()
        value.send_keys(args.truncation, Keys.TAB)
        wait.until(lambda b: seq("grid") >= 2 and b.execute_script("return document.body.dataset.busy") == "0")
        browser.find_element(By.CSS_SELECTOR, "#interp-mode option[value=class]").click()
        browser.find_element(By.ID, "interp-run").click()
        wait.until(lambda b: seq("interp") >= 1)
        png = browser.get_screenshot_as_png()
    finally:
        browser.quit()
        server.terminate()
        server.wait(timeout=30)
    shot = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128)  # a page is flat colours: ~4x smaller
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    shot.save(out, optimize=True)
    print(f"Wrote {out} ({out.stat().st_size / 1024:.0f} KiB, {shot.width}x{shot.height})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
