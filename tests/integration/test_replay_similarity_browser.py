"""MNM's write-similarity matrices on the HTML replay page, in a real headless browser.

Uses the browser and helpers of test_replay_html_browser.py (skipped in the same way where
chromium, chromedriver or selenium are missing).
"""

from __future__ import annotations

import numpy as np
from mnm_records import WORDS, mnm_record, random_writes

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


def story_record(labels: bool = True) -> EpisodeRecord:
    length = len(WORDS)
    return mnm_record(
        length,
        random_writes(length, seed=0),
        WORDS if labels else None,
        frames=np.full((length, 16, 24, 3), 90, dtype=np.uint8),
    )


def top_px(driver, element_id: str) -> float:
    value = driver.find_element(By.ID, element_id).value_of_css_property("top")
    return float(value.removesuffix("px"))


def labels_of(driver, selector: str) -> list[str]:
    elements = driver.find_elements(By.CSS_SELECTOR, selector)
    return [element.get_attribute("textContent") for element in elements]


def test_similarity_matrices_with_words_and_the_step_cursor(browser, tmp_path) -> None:  # noqa: F811
    path = write_html([story_record(), make_record()], tmp_path / "mnm.html")
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
    open_page(browser, write_html(story_record(labels=False), tmp_path / "steps.html"))
    assert labels_of(browser, "#key-rows .sim-row-label") == [str(t) for t in range(len(WORDS))]
    assert severe_console_errors(browser) == []
