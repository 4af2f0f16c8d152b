"""The HTML replay page in a real headless browser (Chromium driven by Selenium).

The page is opened from disk (file://) with a Content-Security-Policy that blocks any
network load, so a page that needed one would log an error here. The tests move the slider
with real key presses, press play, and read the result back from the DOM.

Needs chromium + chromedriver (Debian: `apt-get install chromium chromium-driver`; .ci/run
installs them) and the selenium package (the `dev` extra). Skipped, saying which is
missing, where they are not installed.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from memrl.recall.html import write_html
from memrl.recall.records import EpisodeRecord

webdriver = pytest.importorskip(
    "selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')"
)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
BROWSER = next((path for name in BROWSERS if (path := shutil.which(name))), None)
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    BROWSER is None or DRIVER is None,
    reason=(
        "no headless browser: needs chromium and chromedriver on PATH "
        "(Debian: apt-get install chromium chromium-driver; .ci/run does this) "
        f"- found browser={BROWSER}, driver={DRIVER}"
    ),
)

LENGTH = 12


def make_record(length: int = LENGTH, heads: int = 2, top_k: int = 3) -> EpisodeRecord:
    """Head r, rank k of step t recalls step t - 1 - k - r with weight 0.9 - 0.2 k - 0.1 r."""
    steps = np.arange(length).reshape(-1, 1, 1)
    ranks = np.arange(top_k).reshape(1, 1, -1)
    head_index = np.arange(heads).reshape(1, -1, 1)
    sources = np.broadcast_to(steps - 1 - ranks - head_index, (length, heads, top_k))
    sources = np.where(sources >= 0, sources, -1).astype(np.int32)
    weights = np.where(sources >= 0, 0.9 - 0.2 * ranks - 0.1 * head_index, 0.0)
    frames = np.zeros((length, 16, 24, 3), dtype=np.uint8)
    frames[..., 0] = (np.arange(length) * 20).reshape(-1, 1, 1)
    return EpisodeRecord(
        actions=np.arange(length) % 3,
        rewards=np.where(np.arange(length) == length - 1, 1.0, 0.0).astype(np.float32),
        read_slots=np.where(sources >= 0, sources % 5, -1).astype(np.int32),
        read_weights=weights.astype(np.float32),
        source_steps=sources,
        write_slots=np.zeros((length, 1), dtype=np.int32),
        slots_in_use=np.linspace(0.0, 1.0, length, dtype=np.float32),
        frames=frames,
        metadata={"core": "dnc", "env_id": "memrl/TMaze-v0", "recall_kind": "slots"},
    )


def lstm_record(length: int = 5) -> EpisodeRecord:
    return EpisodeRecord(
        actions=np.zeros(length, dtype=np.int64),
        rewards=np.zeros(length, dtype=np.float32),
        read_slots=np.zeros((length, 0, 0), dtype=np.int32),
        read_weights=np.zeros((length, 0, 0), dtype=np.float32),
        source_steps=np.zeros((length, 0, 0), dtype=np.int32),
        write_slots=np.zeros((length, 0), dtype=np.int32),
        slots_in_use=np.full(length, np.nan, dtype=np.float32),
        frames=np.full((length, 16, 24, 3), 128, dtype=np.uint8),
        metadata={"core": "lstm", "recall_kind": "none"},
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    profile = tempfile.mkdtemp(prefix="memrl-chromium-")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager never goes looking for (or downloading) one.
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_page(browser, path: Path) -> None:
    browser.get(path.resolve().as_uri())
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "step-label").text)


def text(browser, element_id: str) -> str:
    return browser.find_element(By.ID, element_id).text


def panel_captions(browser) -> list[list[str]]:
    rows = browser.find_elements(By.CSS_SELECTOR, "#recall-panel .head-row")
    return [[c.text for c in row.find_elements(By.CSS_SELECTOR, "figcaption")] for row in rows]


def expected_captions(step: int, heads: int = 2, top_k: int = 3) -> list[list[str]]:
    captions = []
    for head in range(heads):
        row = []
        for rank in range(top_k):
            source = step - 1 - rank - head
            weight = 0.9 - 0.2 * rank - 0.1 * head
            row.append(f"t={source} w={weight:.2f}" if source >= 0 else "none")
        captions.append(row)
    return captions


def severe_console_errors(browser) -> list[dict]:
    return [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def test_slider_moves_the_step_label_and_the_recall_panel(browser, tmp_path) -> None:
    path = write_html(make_record(), tmp_path / "replay.html", fps=4)
    open_page(browser, path)
    assert text(browser, "step-label") == f"step 0 / {LENGTH - 1}"
    assert panel_captions(browser) == expected_captions(0)  # nothing to recall yet

    slider = browser.find_element(By.ID, "step-slider")
    cursor_before = browser.find_element(By.ID, "map-cursor").value_of_css_property("top")
    for _ in range(5):
        slider.send_keys(Keys.ARROW_RIGHT)  # real key presses: the slider's own input events
    assert text(browser, "step-label") == f"step 5 / {LENGTH - 1}"
    panel = browser.find_element(By.ID, "recall-panel")
    assert panel.get_attribute("data-step") == "5"
    assert panel_captions(browser) == expected_captions(5)
    assert text(browser, "action-label") == "action 2"
    cursor_after = browser.find_element(By.ID, "map-cursor").value_of_css_property("top")
    assert float(cursor_after.removesuffix("px")) > float(cursor_before.removesuffix("px"))

    # The thumbnail of head 0, rank 0 at step 5 is the frame of step 4.
    first_cell = browser.find_element(By.CSS_SELECTOR, "#recall-panel .recall-cell")
    assert first_cell.get_attribute("data-source-step") == "4"
    thumb_src = first_cell.find_element(By.TAG_NAME, "img").get_attribute("src")
    slider.send_keys(Keys.END)
    assert text(browser, "step-label") == f"step {LENGTH - 1} / {LENGTH - 1}"
    assert text(browser, "reward-label") == "reward 1.00"
    # Clicking a recalled frame (step 7, head 1 rank 2) jumps to its step.
    browser.find_element(By.CSS_SELECTOR, '#recall-panel [data-source-step="7"]').click()
    assert text(browser, "step-label") == f"step 7 / {LENGTH - 1}"
    for _ in range(3):
        slider.send_keys(Keys.ARROW_LEFT)
    assert text(browser, "step-label") == f"step 4 / {LENGTH - 1}"
    assert browser.find_element(By.ID, "frame").get_attribute("src") == thumb_src
    assert severe_console_errors(browser) == []


def test_play_advances_the_step_and_stops_at_the_end(browser, tmp_path) -> None:
    path = write_html(make_record(), tmp_path / "replay.html", fps=20)
    open_page(browser, path)
    play = browser.find_element(By.ID, "play")
    play.click()
    assert play.text == "Pause"
    WebDriverWait(browser, 10).until(
        lambda d: d.find_element(By.ID, "recall-panel").get_attribute("data-step") not in ("0",)
    )
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "play").text == "Play")
    assert text(browser, "step-label") == f"step {LENGTH - 1} / {LENGTH - 1}"
    assert panel_captions(browser) == expected_captions(LENGTH - 1)
    assert severe_console_errors(browser) == []


def test_episode_selector_and_a_record_without_recall(browser, tmp_path) -> None:
    path = write_html([make_record(), lstm_record(5)], tmp_path / "replay.html")
    open_page(browser, path)
    assert browser.find_element(By.ID, "map-block").is_displayed()
    Select(browser.find_element(By.ID, "episode-select")).select_by_index(1)
    assert text(browser, "step-label") == "step 0 / 4"
    note = browser.find_element(By.CSS_SELECTOR, "#recall-panel .no-recall")
    assert "no addressable memory" in note.text
    assert not browser.find_element(By.ID, "map-block").is_displayed()
    browser.find_element(By.ID, "step-slider").send_keys(Keys.ARROW_RIGHT)
    assert text(browser, "step-label") == "step 1 / 4"
    assert severe_console_errors(browser) == []
