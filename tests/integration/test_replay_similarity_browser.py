"""MNM's write-similarity matrices on the HTML replay page, in a real headless browser.

Uses the browser and helpers of test_replay_html_browser.py (skipped in the same way where
chromium, chromedriver or selenium are missing).
"""

from __future__ import annotations

import numpy as np

# First: that module skips (importorskip) without selenium; its selenium names come with it.
from test_replay_html_browser import (
    By,
    Keys,
    Select,
    browser,  # noqa: F401 (a fixture)
    make_record,
    open_page,
    pytestmark,  # noqa: F401 (skips without chromium, as there)
    severe_console_errors,
    text,
)

from memrl.recall.html import write_html
from memrl.recall.records import EpisodeRecord

WORDS = "mary went to the garden . john moved to the hallway . where is mary ?".split()


def mnm_record(labels: bool = True) -> EpisodeRecord:
    length = len(WORDS)
    rng = np.random.default_rng(0)
    sources = (np.arange(length) // 2).reshape(-1, 1, 1).astype(np.int32)
    return EpisodeRecord(
        actions=np.zeros(length, dtype=np.int64),
        rewards=np.zeros(length, dtype=np.float32),
        read_slots=sources,
        read_weights=np.full((length, 1, 1), 0.9, dtype=np.float32),
        source_steps=sources,
        write_slots=np.arange(length, dtype=np.int32)[:, None],
        slots_in_use=np.full(length, np.nan, dtype=np.float32),
        frames=np.full((length, 16, 24, 3), 90, dtype=np.uint8),
        metadata={"core": "mnm", "env_id": "memrl/StoryQA-v0", "recall_kind": "keys"},
        write_keys=rng.normal(size=(length, 1, 4)).astype(np.float16),
        write_values=rng.normal(size=(length, 1, 3)).astype(np.float16),
        labels=np.array(WORDS, dtype=str) if labels else None,
    )


def top_px(driver, element_id: str) -> float:
    value = driver.find_element(By.ID, element_id).value_of_css_property("top")
    return float(value.removesuffix("px"))


def labels_of(driver, selector: str) -> list[str]:
    elements = driver.find_elements(By.CSS_SELECTOR, selector)
    return [element.get_attribute("textContent") for element in elements]


def test_similarity_matrices_with_words_and_the_step_cursor(browser, tmp_path) -> None:  # noqa: F811
    path = write_html([mnm_record(), make_record()], tmp_path / "mnm.html")
    open_page(browser, path)
    block = browser.find_element(By.ID, "similarity-block")
    assert block.is_displayed() and browser.find_element(By.ID, "map-block").is_displayed()
    for image_id in ("key-similarity", "value-similarity"):
        image = browser.find_element(By.ID, image_id)
        assert browser.execute_script("return arguments[0].naturalWidth", image) > 0
        assert image.size["width"] >= 240 and image.size["height"] == image.size["width"]
    # one row and one column label per word, per matrix
    assert labels_of(browser, "#key-rows .sim-row-label") == WORDS
    assert labels_of(browser, "#value-cols .sim-col-label") == WORDS
    assert text(browser, "label-text") == "mary"

    key_cursor, value_cursor = top_px(browser, "key-cursor"), top_px(browser, "value-cursor")
    slider = browser.find_element(By.ID, "step-slider")
    for _ in range(6):
        slider.send_keys(Keys.ARROW_RIGHT)
    assert text(browser, "step-label") == f"step 6 / {len(WORDS) - 1}"
    assert text(browser, "label-text") == "john"
    assert top_px(browser, "key-cursor") > key_cursor
    assert top_px(browser, "value-cursor") > value_cursor
    current = labels_of(browser, "#key-rows .sim-row-label.current")
    assert current == ["john"]

    # A slot-memory record has no write similarity: the block hides.
    Select(browser.find_element(By.ID, "episode-select")).select_by_index(1)
    assert not block.is_displayed()
    assert browser.find_element(By.ID, "map-block").is_displayed()
    assert text(browser, "label-text") == ""
    assert severe_console_errors(browser) == []


def test_without_labels_the_axes_show_step_numbers(browser, tmp_path) -> None:  # noqa: F811
    open_page(browser, write_html(mnm_record(labels=False), tmp_path / "steps.html"))
    assert labels_of(browser, "#key-rows .sim-row-label") == [str(t) for t in range(len(WORDS))]
    assert severe_console_errors(browser) == []
