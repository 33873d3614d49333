"""The service end to end: the drawing page in headless Chromium against a model trained on real
MNIST, and `python -m digitnet.serve` as a process (start, answer, refuse a taken port, Ctrl+C).

Needs chromium and its driver (Debian: `apt-get install -y chromium chromium-driver`); without them
the browser test fails and says so, rather than skipping.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CANVAS_SIDE = 280  # the canvas's own pixels; strokes below are in these units


def ellipse(cx: float, cy: float, rx: float, ry: float, points: int = 40) -> list[tuple[float, float]]:
    return [
        (cx + rx * math.sin(2 * math.pi * i / points), cy - ry * math.cos(2 * math.pi * i / points))
        for i in range(points + 1)
    ]


def polyline(*corners: tuple[float, float], step: float = 8) -> list[tuple[float, float]]:
    """The corners joined by points `step` apart, as a hand moving a mouse would pass through them."""
    path = [corners[0]]
    for (x0, y0), (x1, y1) in zip(corners, corners[1:]):
        count = max(1, int(math.hypot(x1 - x0, y1 - y0) / step))
        path += [(x0 + (x1 - x0) * i / count, y0 + (y1 - y0) * i / count) for i in range(1, count + 1)]
    return path


# Big, plain digits that the 3-epoch network reads with > 99% confidence.
DRAWINGS = {0: [ellipse(140, 140, 65, 95)], 7: [polyline((70, 55), (210, 55), (115, 235))]}


@pytest.fixture(scope="module")
def page_url(real_model_dir):
    from digitnet.reading.predict import Predictor
    from digitnet.serve import create_app
    from digitnet.serve.model_info import describe_model
    from digitnet.serve.server import serve_in_thread

    app = create_app(Predictor(real_model_dir), model_info=describe_model(real_model_dir))
    with serve_in_thread(app) as url:
        yield url + "/"


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing; install with "
            "`apt-get update && apt-get install -y chromium chromium-driver`"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1000,900",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def draw(driver, canvas, strokes) -> None:
    """Press, move through each stroke's points, release: real pointer events on the canvas."""
    from selenium.webdriver.common.action_chains import ActionChains

    width, height = canvas.rect["width"], canvas.rect["height"]

    def offset(point):  # Selenium offsets are from the element's centre, in CSS pixels
        return (
            round(point[0] / CANVAS_SIDE * width - width / 2),
            round(point[1] / CANVAS_SIDE * height - height / 2),
        )

    actions = ActionChains(driver, duration=5)
    for stroke in strokes:
        actions.move_to_element_with_offset(canvas, *offset(stroke[0])).click_and_hold()
        for point in stroke[1:]:
            actions.move_to_element_with_offset(canvas, *offset(point))
        actions.release()
    actions.perform()


def wait_for_answer(driver) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script(
            "return document.body.dataset.pending === 'false'"
            " && ['answered', 'error'].includes(document.body.dataset.state)"
        )
    )


def wait_for_transitions(driver) -> None:
    """Until no CSS transition (the bars' widths) is still running on the page."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(
        lambda d: d.execute_script("return document.getAnimations().length === 0")
    )


def test_drawing_a_digit_shows_the_right_answer_bars_and_thumbnail(page_url, browser):
    from selenium.webdriver.common.by import By

    from digitnet.data.preprocess import image_to_mnist

    browser.get(page_url)
    canvas = browser.find_element(By.ID, "canvas")
    for digit, strokes in DRAWINGS.items():
        browser.find_element(By.ID, "clear").click()
        assert browser.find_element(By.ID, "digit").text == ""
        draw(browser, canvas, strokes)
        wait_for_answer(browser)
        assert browser.find_element(By.ID, "status").text == ""  # no error shown
        assert browser.find_element(By.ID, "digit").text == str(digit)
        assert browser.find_element(By.ID, "uncertain").text.startswith("sure")

        bars = browser.find_elements(By.CSS_SELECTOR, "#bars [role=listitem]")
        probabilities = [float(bar.get_attribute("data-probability")) for bar in bars]
        assert len(bars) == 10 and sum(probabilities) == pytest.approx(1.0, abs=1e-3)
        assert int(np.argmax(probabilities)) == digit
        drawn = bars[digit].find_element(By.CLASS_NAME, "fill")
        wait_for_transitions(browser)  # the bars grow over 0.15 s: measured mid-way on busy cores
        assert drawn.size["width"] > 0.9 * bars[digit].size["width"]  # the tallest bar is drawn

        source = browser.find_element(By.ID, "thumb").get_attribute("src")
        assert source.startswith("data:image/png;base64,")
        seen = np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))))
        assert seen.shape == (28, 28) and seen.max() == 255  # bright ink on black, as in MNIST
        drawing = browser.execute_script("return document.getElementById('canvas').toDataURL('image/png')")
        expected = image_to_mnist(base64.b64decode(drawing.split(",", 1)[1]))
        np.testing.assert_allclose(seen, np.round(expected * 255), atol=1)  # what the model was given
        assert browser.execute_script("return document.getElementById('thumb').naturalWidth") == 28

    browser.find_element(By.ID, "clear").click()
    assert browser.find_element(By.ID, "digit").text == ""
    assert browser.find_element(By.ID, "thumb").get_attribute("src") in (None, "")


class _DoubtingPredictor:
    """The real predictor, its answers doubted for `reason`: what the page shows then is the page's."""

    def __init__(self, predictor, reason: str):
        self.predictor, self.reason = predictor, reason

    def predict(self, images):
        import dataclasses

        answers = self.predictor.predict(images)
        return [dataclasses.replace(answer, uncertain=True, reason=self.reason) for answer in answers]


@pytest.mark.parametrize(
    "reason, digit_shown, doubt_shown",
    [("not-a-digit", "\u2013", "not a digit"), ("blank", "\u2013", "blank"), ("unsure", "7", "not sure")],
)
def test_a_doubted_drawing_shows_its_reason_and_no_digit_unless_only_unsure(
    real_model_dir, browser, reason, digit_shown, doubt_shown
):
    from selenium.webdriver.common.by import By

    from digitnet.reading.predict import Predictor
    from digitnet.serve import create_app
    from digitnet.serve.model_info import describe_model
    from digitnet.serve.server import serve_in_thread

    doubting = _DoubtingPredictor(Predictor(real_model_dir), reason)
    app = create_app(doubting, model_info=describe_model(real_model_dir))
    with serve_in_thread(app) as url:
        browser.get(url + "/")
        draw(browser, browser.find_element(By.ID, "canvas"), DRAWINGS[7])
        wait_for_answer(browser)
        assert browser.find_element(By.ID, "digit").text == digit_shown
        assert browser.find_element(By.ID, "uncertain").text.startswith(doubt_shown)
        highlighted = browser.find_elements(By.CSS_SELECTOR, "#bars .top")
        assert len(highlighted) == (1 if reason == "unsure" else 0)  # no bar is the answer


def test_run_server_serves_until_ctrl_c_then_exits_cleanly(tiny_model_dir):
    import signal
    import subprocess
    import sys
    import time

    import httpx

    from digitnet.serve.server import bind_socket

    with bind_socket("127.0.0.1", 0) as probe:
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "digitnet.serve", str(tiny_model_dir), "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None and time.monotonic() < deadline, server.communicate()[0]
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/v1/models/digitnet", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert status.json()["model_version_status"][0]["state"] == "AVAILABLE"
        second = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2 and "--port" in second.stderr
    finally:
        server.send_signal(signal.SIGINT)
        output = server.communicate(timeout=30)[0]
    assert server.returncode == 0, output
    assert "Traceback" not in output


def test_wrong_it_was_saves_the_drawing_with_the_right_digit(real_model_dir, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from digitnet.reading.predict import Predictor
    from digitnet.serve import create_app
    from digitnet.serve.collect import ExampleStore
    from digitnet.serve.model_info import describe_model
    from digitnet.serve.server import serve_in_thread

    folder = tmp_path / "collected"
    app = create_app(
        Predictor(real_model_dir), model_info=describe_model(real_model_dir), collect=ExampleStore(folder)
    )
    with serve_in_thread(app) as url:
        browser.get(url + "/")
        assert not browser.find_element(By.ID, "collect").is_displayed()  # nothing answered yet
        draw(browser, browser.find_element(By.ID, "canvas"), DRAWINGS[7])
        wait_for_answer(browser)
        WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "collect").is_displayed())
        browser.find_element(By.ID, "collect-3").click()
        WebDriverWait(browser, 10).until(
            lambda d: d.find_element(By.ID, "collect-status").text not in ("", "saving...")
        )
        assert browser.find_element(By.ID, "collect-status").text == "saved, thanks"
        source = browser.find_element(By.ID, "thumb").get_attribute("src")
    [saved] = list(folder.iterdir())
    assert saved.name.endswith("_3.png")
    seen = np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))))
    np.testing.assert_array_equal(np.asarray(Image.open(saved)), seen)  # exactly what the model saw


def test_the_collect_row_stays_hidden_when_collection_is_off(page_url, browser):
    from selenium.webdriver.common.by import By

    browser.get(page_url)
    draw(browser, browser.find_element(By.ID, "canvas"), DRAWINGS[0])
    wait_for_answer(browser)
    assert browser.find_element(By.ID, "digit").text == "0"
    assert not browser.find_element(By.ID, "collect").is_displayed()
