"""A self-contained HTML replay page: frames, recalled past frames and the recall map.

One file, no network: every image is a ``data:`` URI (each env frame is embedded once, as
PNG or JPEG, and reused for the thumbnails of the steps that recall it), the script and the
style are inline, and a Content-Security-Policy forbids loading anything else. Open it from
disk in any browser.

The page shows one episode at a time (a selector when there are several): the current
frame, the step, action and reward, the recall panel (per read head, the top-k recalled
past frames with their step and weight; clicking one jumps to that step), and the recall
map (row = step, column = past step, brightness = read weight) with the rows filled so far
and a cursor. MNM records (with write keys and values) also get the two write-similarity
matrices of ``memrl.recall.similarity`` beside the map, with the same cursor, and the
record's labels (StoryQA's words) as their axis labels. A slider and a play/pause button
scrub through the steps; the arrow keys step while the slider has focus.

Stable element ids, for people and tests: ``#episode-select``, ``#step-slider``,
``#step-label``, ``#action-label``, ``#reward-label``, ``#return-label``, ``#play``,
``#fps``, ``#frame``, ``#recall-panel`` (rows ``.head-row`` of figures ``.recall-cell``
with ``data-source-step`` and ``data-weight``; ``.recall-cell.empty`` where nothing was
recalled; ``.no-recall`` for LSTM/GRU records), ``#recall-map``, ``#map-cursor``,
``#map-future``, ``#label-text`` (the step's label, when the record has labels),
``#similarity-block`` with ``#key-similarity`` and ``#value-similarity`` (images),
``#key-cursor`` and ``#value-cursor``, and per matrix ``.sim-row-label`` and
``.sim-col-label`` elements (``data-step``; ``.current`` on the current row's label).
``#recall-panel`` carries ``data-step`` = the step it shows.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from memrl.atomic import atomic_write
from memrl.checks import check_number
from memrl.recall.drawing import NO_RECALL_NOTE, as_rgb, format_action
from memrl.recall.episodes import (
    as_record_list,
    episode_title,
    record_weight_label,
    replay_frames_of,
)
from memrl.recall.maps import map_scale, recall_map, recall_map_image, recalled_steps
from memrl.recall.records import EpisodeRecord
from memrl.recall.similarity import has_write_similarity, similarity_image, write_similarity

__all__ = ["replay_html", "write_html"]

IMAGE_FORMATS = ("png", "jpeg")
MAP_DISPLAY_SIZE = 240  # CSS pixels of the recall map on the page
# With labels, a similarity matrix grows to this many CSS pixels a step (up to the limit),
# so that one word a row stays readable.
LABELLED_STEP_SIZE = 12
SIMILARITY_MAX_SIZE = 720


def _data_uri(image: np.ndarray, image_format: str) -> str:
    buffer = io.BytesIO()
    picture = Image.fromarray(as_rgb(image))
    if image_format == "png":
        picture.save(buffer, format="PNG", optimize=True)
    else:
        picture.save(buffer, format="JPEG", quality=85)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/{image_format};base64,{encoded}"


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _episode_data(
    record: EpisodeRecord, index: int, n_episodes: int, image_format: str
) -> dict[str, Any]:
    frames = replay_frames_of(record)
    length = record.length
    rewards = np.asarray(record.rewards, dtype=np.float64)
    actions = np.asarray(record.actions)
    data: dict[str, Any] = {
        "title": episode_title(record, index if n_episodes > 1 else None),
        "length": length,
        "hasRecall": record.has_recall,
        "weightLabel": record_weight_label(record),
        "frames": [_data_uri(frame, image_format) for frame in frames],
        "actions": [format_action(actions[t]) for t in range(length)],
        "rewards": [_finite(r) for r in rewards],
        "returns": [_finite(r) for r in np.cumsum(rewards)],
        "slotsInUse": [_finite(v) for v in np.asarray(record.slots_in_use, dtype=np.float64)],
        "labels": None if record.labels is None else [str(label) for label in record.labels],
    }
    if not record.has_recall:
        return data
    sources = recalled_steps(record)
    slots = np.asarray(record.read_slots)
    weights = np.asarray(record.read_weights, dtype=np.float64)
    # reads[t][r][k] = [source step, weight, slot]
    data["reads"] = [
        [
            [[int(s), round(float(w), 4), int(slot)] for s, w, slot in zip(*head, strict=True)]
            for head in zip(sources[t], weights[t], slots[t], strict=True)
        ]
        for t in range(length)
    ]
    matrix = recall_map(record)
    scale = map_scale(matrix)
    # Whole pixels per step keep the map crisp; CSS scales it to MAP_DISPLAY_SIZE.
    size = length * max(1, math.ceil(MAP_DISPLAY_SIZE / length)) if length else 1
    data["map"] = _data_uri(recall_map_image(matrix, size, map_max=scale), "png")
    data["mapMax"] = scale
    if has_write_similarity(record):
        keys, values = write_similarity(record)
        display = MAP_DISPLAY_SIZE
        if record.labels is not None:
            display = min(max(display, LABELLED_STEP_SIZE * length), SIMILARITY_MAX_SIZE)
        data["similarity"] = {
            "keys": _data_uri(similarity_image(keys, size), "png"),
            "values": _data_uri(similarity_image(values, size), "png"),
            "size": display,
        }
    return data


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element ("<" only occurs inside strings)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def replay_html(
    records: EpisodeRecord | Sequence[EpisodeRecord],
    fps: float = 4,
    *,
    image_format: str = "png",
    title: str = "memrl replay",
) -> str:
    """Build the replay page of one or several episodes (see the module docstring).

    Args:
        records: episode records (without frames, each step is drawn as a card).
        fps: playback speed of the play button (steps per second).
        image_format: ``"png"`` (exact; small for flat grid-world frames) or ``"jpeg"``
            (smaller for photographic frames).
        title: the page title.

    Returns:
        The HTML text.

    Raises:
        ValueError: bad fps or image format, or a record that breaks the schema
            (``RecordError``, e.g. frames not one per step).
    """
    fps = check_number("fps", fps, positive=True)
    if image_format not in IMAGE_FORMATS:
        raise ValueError(
            f"image_format must be one of {', '.join(IMAGE_FORMATS)}, got {image_format!r}"
        )
    items = as_record_list(records)
    payload = {
        "fps": fps,
        "noRecallNote": NO_RECALL_NOTE,
        "episodes": [
            _episode_data(item, index, len(items), image_format) for index, item in enumerate(items)
        ],
    }
    return (
        _PAGE.replace("{{title}}", html.escape(title))
        .replace("{{map_size}}", str(MAP_DISPLAY_SIZE))
        .replace("{{data}}", _script_json(payload))
    )


def write_html(
    records: EpisodeRecord | Sequence[EpisodeRecord],
    path: str | os.PathLike[str],
    fps: float = 4,
    *,
    image_format: str = "png",
) -> Path:
    """Write the self-contained replay page (see :func:`replay_html`) atomically.

    Returns the path.
    """
    page = replay_html(
        records, fps, image_format=image_format, title=f"memrl replay: {Path(path).name}"
    )
    return atomic_write(path, page)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:;
      style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{title}}</title>
<style>
  body { background: #18181c; color: #e8e8e8; font: 14px system-ui, sans-serif; margin: 16px; }
  h1 { font-size: 16px; font-weight: 600; margin: 0 0 8px; }
  .muted { color: #9696a0; }
  #controls { display: flex; gap: 12px; align-items: center; flex-wrap: wrap; margin: 8px 0; }
  #step-slider { width: 360px; }
  #play { min-width: 64px; }
  #fps { width: 48px; }
  #info span { margin-right: 16px; }
  #main { display: flex; gap: 24px; align-items: flex-start; flex-wrap: wrap; margin-top: 8px; }
  #frame { image-rendering: pixelated; max-width: 480px; min-width: 200px; border: 1px solid #444; }
  .head-row { display: flex; gap: 8px; align-items: center; margin-bottom: 8px; }
  .head-label { width: 52px; }
  .recall-cell { margin: 0; width: 104px; cursor: pointer; }
  .recall-cell img { width: 100px; image-rendering: pixelated; border: 2px solid #5a5a64; }
  .recall-cell figcaption { font: 12px monospace; }
  .recall-cell.empty { cursor: default; }
  .recall-cell.empty .empty-thumb { width: 100px; height: 40px; background: #3a3a40; }
  .no-recall { color: #9696a0; max-width: 320px; }
  #map-wrap { position: relative; width: {{map_size}}px; height: {{map_size}}px;
              border: 1px solid #6e6e78; }
  #recall-map { width: 100%; height: 100%; image-rendering: pixelated; display: block; }
  #map-future { position: absolute; left: 0; right: 0; bottom: 0; background: #222638; }
  #map-cursor { position: absolute; left: -6px; right: -6px; height: 2px; background: #ff8c00; }
  #maps-row { display: flex; gap: 24px; align-items: flex-start; flex-wrap: wrap; }
  #label-text { color: #ffd75a; font-weight: 600; }
  #similarity-block > .muted { max-width: 600px; }
  .sim-matrices { display: flex; gap: 16px; align-items: flex-start; flex-wrap: wrap; }
  .sim-figure { margin: 0; display: grid; grid-template-columns: 76px auto; }
  .sim-figure figcaption { grid-column: 2; grid-row: 1; font-size: 12px; margin-bottom: 2px; }
  .sim-rows { grid-column: 1; grid-row: 2; position: relative; }
  .sim-wrap { grid-column: 2; grid-row: 2; position: relative; border: 1px solid #6e6e78; }
  .sim-cols { grid-column: 2; grid-row: 3; position: relative; height: 76px; }
  .sim-wrap img { width: 100%; height: 100%; image-rendering: pixelated; display: block; }
  .sim-future { position: absolute; left: 0; right: 0; bottom: 0;
                background: rgba(24, 24, 28, 0.6); }
  .sim-cursor { position: absolute; left: -6px; right: -6px; height: 2px; background: #ff8c00; }
  .sim-row-label, .sim-col-label { position: absolute; font: 11px monospace; line-height: 1;
                                   white-space: nowrap; color: #9696a0; }
  .sim-row-label { right: 4px; transform: translateY(-50%); }
  .sim-col-label { top: 3px; writing-mode: vertical-rl; transform: translateX(-50%); }
  .sim-row-label.current, .sim-col-label.current { color: #ff8c00; }
</style>
</head>
<body>
<h1>{{title}}</h1>
<div id="controls">
  <select id="episode-select" aria-label="episode"></select>
  <button id="play" type="button">Play</button>
  <input id="step-slider" type="range" min="0" max="0" value="0" step="1" aria-label="step">
  <span id="step-label">step 0</span>
  <label>fps <input id="fps" type="number" min="0.5" max="60" step="0.5"></label>
</div>
<div id="info">
  <span id="episode-title" class="muted"></span>
  <span id="action-label"></span><span id="reward-label"></span><span id="return-label"></span>
  <span id="slots-label" class="muted"></span><span id="label-text"></span>
</div>
<div id="main">
  <div><img id="frame" alt="frame of the current step"></div>
  <div>
    <div class="muted">recalled past frames (top-k per read head): step and weight</div>
    <div id="recall-panel" data-step="0"></div>
    <div id="maps-row">
    <div id="map-block">
      <div class="muted">recall map: row = step (0 at top), column = past step,
        brightness = read weight / <span id="map-max"></span></div>
      <div id="map-wrap">
        <img id="recall-map" alt="recall map">
        <div id="map-future"></div>
        <div id="map-cursor"></div>
      </div>
    </div>
    <div id="similarity-block" hidden>
      <div class="muted">what MNM wrote: cosine similarity of each step's write (row) with
        the earlier steps' (column); warm = alike, blue = opposite</div>
      <div class="sim-matrices">
        <figure class="sim-figure">
          <figcaption>write keys</figcaption>
          <div class="sim-rows" id="key-rows"></div>
          <div class="sim-wrap" id="key-wrap"><img id="key-similarity"
            alt="write-key similarity"><div class="sim-future"></div><div class="sim-cursor"
            id="key-cursor"></div></div>
          <div class="sim-cols" id="key-cols"></div>
        </figure>
        <figure class="sim-figure">
          <figcaption>target values</figcaption>
          <div class="sim-rows" id="value-rows"></div>
          <div class="sim-wrap" id="value-wrap"><img id="value-similarity"
            alt="target-value similarity"><div class="sim-future"></div><div class="sim-cursor"
            id="value-cursor"></div></div>
          <div class="sim-cols" id="value-cols"></div>
        </figure>
      </div>
    </div>
    </div>
  </div>
</div>
<script id="replay-data" type="application/json">{{data}}</script>
<script>
"use strict";
const data = JSON.parse(document.getElementById("replay-data").textContent);
const el = (id) => document.getElementById(id);
const slider = el("step-slider"), playButton = el("play"), fpsInput = el("fps");
const select = el("episode-select"), panel = el("recall-panel");
const simParts = [["key", "keys"], ["value", "values"]];
let episode = 0, timer = null;
fpsInput.value = data.fps;

data.episodes.forEach((ep, i) => {
  const option = document.createElement("option");
  option.value = i;
  option.textContent = ep.title || ("episode " + i);
  select.appendChild(option);
});
select.hidden = data.episodes.length < 2;

function fmt(value) { return value === null ? "n/a" : value.toFixed(2); }

function cell(ep, read) {
  const [source, weight, slot] = read;
  const figure = document.createElement("figure");
  const caption = document.createElement("figcaption");
  figure.className = "recall-cell";
  if (source < 0) {
    figure.classList.add("empty");
    figure.dataset.sourceStep = "-1";
    const blank = document.createElement("div");
    blank.className = "empty-thumb";
    figure.appendChild(blank);
    caption.textContent = "none";
  } else {
    figure.dataset.sourceStep = String(source);
    figure.dataset.weight = String(weight);
    const img = document.createElement("img");
    img.src = ep.frames[source];
    img.alt = "frame of step " + source;
    const alpha = 0.25 + 0.75 * Math.max(0, Math.min(1, weight));
    img.style.borderColor = "rgba(255, 244, 200, " + alpha + ")";
    figure.appendChild(img);
    caption.textContent = "t=" + source + " " + ep.weightLabel + "=" + weight.toFixed(2);
    figure.title = "slot " + slot + ": click to go to step " + source;
    figure.addEventListener("click", () => { pause(); setStep(source); });
  }
  figure.appendChild(caption);
  return figure;
}

function show() {
  const ep = data.episodes[episode];
  const step = Number(slider.value);
  el("frame").src = ep.frames[step];
  el("step-label").textContent = "step " + step + " / " + (ep.length - 1);
  el("action-label").textContent = "action " + ep.actions[step];
  el("reward-label").textContent = "reward " + fmt(ep.rewards[step]);
  el("return-label").textContent = "return so far " + fmt(ep.returns[step]);
  const used = ep.slotsInUse[step];
  el("slots-label").textContent =
    used === null ? "" : "slots in use " + Math.round(100 * used) + "%";
  el("label-text").textContent = ep.labels ? ep.labels[step] : "";
  panel.dataset.step = String(step);
  panel.replaceChildren();
  if (!ep.hasRecall) {
    const note = document.createElement("div");
    note.className = "no-recall";
    note.textContent = data.noRecallNote;
    panel.appendChild(note);
    return;
  }
  ep.reads[step].forEach((head, h) => {
    const row = document.createElement("div");
    row.className = "head-row";
    row.dataset.head = String(h);
    const label = document.createElement("span");
    label.className = "head-label";
    label.textContent = "head " + h;
    row.appendChild(label);
    head.forEach((read) => row.appendChild(cell(ep, read)));
    panel.appendChild(row);
  });
  const below = 100 * (step + 1) / ep.length;
  el("map-cursor").style.top = "calc(" + below + "% - 1px)";
  el("map-future").style.top = below + "%";
  if (!ep.similarity) return;
  simParts.forEach(([part]) => {
    el(part + "-cursor").style.top = "calc(" + below + "% - 1px)";
    el(part + "-wrap").querySelector(".sim-future").style.top = below + "%";
  });
  document.querySelectorAll(".sim-row-label, .sim-col-label").forEach((label) => {
    label.classList.toggle("current", label.dataset.step === String(step));
  });
}

// Axis labels (the record's labels, else step numbers), thinned to one per 12 CSS pixels.
function buildSimilarity(ep) {
  const sim = ep.similarity;
  const every = Math.max(1, Math.ceil(12 * ep.length / sim.size));
  simParts.forEach(([part, field]) => {
    el(part + "-similarity").src = sim[field];
    const wrap = el(part + "-wrap"), rows = el(part + "-rows"), cols = el(part + "-cols");
    wrap.style.width = wrap.style.height = rows.style.height = cols.style.width = sim.size + "px";
    rows.replaceChildren();
    cols.replaceChildren();
    for (let t = 0; t < ep.length; t += every) {
      [[rows, "sim-row-label", "top"], [cols, "sim-col-label", "left"]].forEach(
        ([box, name, side]) => {
          const label = document.createElement("span");
          label.className = name;
          label.dataset.step = String(t);
          label.textContent = ep.labels ? ep.labels[t] : String(t);
          label.style[side] = (100 * (t + 0.5) / ep.length) + "%";
          box.appendChild(label);
        });
    }
  });
}

function loadEpisode(index) {
  episode = index;
  const ep = data.episodes[index];
  slider.max = String(Math.max(0, ep.length - 1));
  slider.value = "0";
  el("episode-title").textContent = ep.title;
  el("map-block").hidden = !ep.hasRecall;
  if (ep.hasRecall) {
    el("recall-map").src = ep.map;
    el("map-max").textContent = ep.mapMax.toFixed(2);
  }
  el("similarity-block").hidden = !ep.similarity;
  if (ep.similarity) buildSimilarity(ep);
  show();
}

function setStep(step) { slider.value = String(step); show(); }

function pause() {
  if (timer !== null) { clearInterval(timer); timer = null; }
  playButton.textContent = "Play";
}

function play() {
  const ep = data.episodes[episode];
  if (Number(slider.value) >= ep.length - 1) setStep(0);
  const fps = Math.max(0.5, Number(fpsInput.value) || data.fps);
  playButton.textContent = "Pause";
  timer = setInterval(() => {
    const next = Number(slider.value) + 1;
    if (next > ep.length - 1) { pause(); return; }
    setStep(next);
  }, 1000 / fps);
}

slider.addEventListener("input", show);
playButton.addEventListener("click", () => (timer === null ? play() : pause()));
fpsInput.addEventListener("change", () => { if (timer !== null) { pause(); play(); } });
select.addEventListener("change", () => { pause(); loadEpisode(Number(select.value)); });
loadEpisode(0);
</script>
</body>
</html>
"""
