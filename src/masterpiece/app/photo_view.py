"""The photo component: a before/after comparison to drag, and clicks that place colour hints.

A Streamlit ``components.v2`` component written inline (HTML, CSS and JavaScript here, served
by Streamlit itself: nothing is fetched from the internet). It shows the ``after`` image
with the ``before`` image over its left part; the divider is dragged with the mouse, a finger
or the arrow keys. When hints are enabled, a click on the photo reports a ``click`` event,
dragging a hint marker reports ``move`` and clicking one reports ``select``; positions are
fractions of the width and height, in [0, 1]. When hints are disabled a click or drag
anywhere moves the divider.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

from ..pipeline.encoding import encode_image

__all__ = ["Marker", "data_url", "jpeg_url", "photo_view"]

#: JPEG quality of the images shown (downloads are separate, full resolution)
PREVIEW_QUALITY = 90

_CSS = """
.mp-view { width: 100%; display: flex; justify-content: center; }
.mp-frame {
  position: relative; width: 100%; max-width: var(--mp-max-width, 100%);
  overflow: hidden; border-radius: 0.5rem; user-select: none; -webkit-user-select: none;
  touch-action: none; background: #222; cursor: ew-resize;
}
.mp-frame.mp-hints { cursor: crosshair; }
.mp-frame img {
  position: absolute; inset: 0; width: 100%; height: 100%; display: block;
  pointer-events: none; -webkit-user-drag: none;
}
.mp-label {
  position: absolute; top: 0.5rem; padding: 0.1rem 0.5rem; border-radius: 0.3rem;
  font: 600 0.8rem/1.4 var(--st-font, sans-serif); color: #fff; background: rgba(0, 0, 0, 0.55);
  pointer-events: none;
}
.mp-label-before { left: 0.5rem; }
.mp-label-after { right: 0.5rem; }
.mp-divider {
  position: absolute; top: 0; bottom: 0; width: 2.2rem; margin-left: -1.1rem;
  cursor: ew-resize; outline: none; touch-action: none;
}
.mp-divider::before {
  content: ""; position: absolute; top: 0; bottom: 0; left: calc(50% - 1px); width: 2px;
  background: #fff; box-shadow: 0 0 3px rgba(0, 0, 0, 0.7);
}
.mp-knob {
  position: absolute; top: 50%; left: 50%; width: 2rem; height: 2rem; margin: -1rem 0 0 -1rem;
  border-radius: 50%; background: #fff; box-shadow: 0 1px 4px rgba(0, 0, 0, 0.6);
}
.mp-knob::before {
  content: "\\2039\\00a0\\203a"; position: absolute; inset: 0; text-align: center;
  font: 700 1rem/2rem sans-serif; color: #444;
}
.mp-divider:focus-visible .mp-knob { outline: 3px solid var(--st-primary-color, #b5542d); }
.mp-marker {
  position: absolute; width: 1.25rem; height: 1.25rem; margin: -0.625rem 0 0 -0.625rem;
  border-radius: 50%; border: 3px solid #fff; box-sizing: border-box; cursor: grab;
  box-shadow: 0 0 0 1px rgba(0, 0, 0, 0.7), 0 1px 4px rgba(0, 0, 0, 0.5); touch-action: none;
}
.mp-marker.mp-selected {
  width: 1.6rem; height: 1.6rem; margin: -0.8rem 0 0 -0.8rem;
  box-shadow: 0 0 0 3px var(--st-primary-color, #b5542d), 0 1px 6px rgba(0, 0, 0, 0.6);
}
.mp-marker.mp-pending { opacity: 0.6; border-style: dashed; }
"""

_JS = """
const DRAG_PIXELS = 4;

function fraction(frame, event) {
  const box = frame.getBoundingClientRect();
  const clamp = (v) => Math.min(1, Math.max(0, v));
  return [clamp((event.clientX - box.left) / box.width), clamp((event.clientY - box.top) / box.height)];
}

function build(root, state) {
  const view = document.createElement("div");
  view.className = "mp-view";
  view.innerHTML = `
    <div class="mp-frame" data-testid="mp-photo">
      <img class="mp-after" alt="" draggable="false">
      <img class="mp-before" alt="" draggable="false">
      <span class="mp-label mp-label-before"></span>
      <span class="mp-label mp-label-after"></span>
      <div class="mp-markers"></div>
      <div class="mp-divider" role="slider" tabindex="0" aria-valuemin="0" aria-valuemax="100"
           aria-label="Drag to compare the original and the result"><span class="mp-knob"></span></div>
    </div>`;
  root.appendChild(view);
  const frame = view.querySelector(".mp-frame");
  const divider = view.querySelector(".mp-divider");

  frame.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    const marker = event.target.closest(".mp-marker");
    const onDivider = event.target.closest(".mp-divider");
    const hints = state.data.hintsEnabled;
    const kind = onDivider || !hints ? "split" : marker ? "hint" : "click";
    state.drag = { kind, marker, x: event.clientX, y: event.clientY, moved: false };
    frame.setPointerCapture(event.pointerId);
    if (kind === "split") setSplit(view, state, fraction(frame, event)[0]);
    event.preventDefault();
  });
  frame.addEventListener("pointermove", (event) => {
    const drag = state.drag;
    if (!drag) return;
    if (Math.hypot(event.clientX - drag.x, event.clientY - drag.y) > DRAG_PIXELS) drag.moved = true;
    const [fx, fy] = fraction(frame, event);
    if (drag.kind === "split") setSplit(view, state, fx);
    if (drag.kind === "hint" && drag.moved) {
      drag.marker.style.left = `${fx * 100}%`;
      drag.marker.style.top = `${fy * 100}%`;
    }
  });
  const finish = (event) => {
    const drag = state.drag;
    state.drag = null;
    if (!drag || event.type === "pointercancel") return;
    const [fx, fy] = fraction(frame, event);
    if (drag.kind === "hint") {
      const index = Number(drag.marker.dataset.index);
      if (drag.moved) state.send("move", { index, x: fx, y: fy });
      else state.send("select", { index });
    } else if (drag.kind === "click" && !drag.moved) {
      const pending = document.createElement("div");
      pending.className = "mp-marker mp-pending";
      pending.style.left = `${fx * 100}%`;
      pending.style.top = `${fy * 100}%`;
      view.querySelector(".mp-markers").appendChild(pending);
      state.send("click", { x: fx, y: fy });
    }
  };
  frame.addEventListener("pointerup", finish);
  frame.addEventListener("pointercancel", finish);
  divider.addEventListener("keydown", (event) => {
    const step = { ArrowLeft: -0.05, ArrowRight: 0.05, Home: -1, End: 1 }[event.key];
    if (step === undefined) return;
    setSplit(view, state, state.split + step);
    event.preventDefault();
  });
  return view;
}

function setSplit(view, state, split) {
  state.split = Math.min(1, Math.max(0, split));
  const percent = state.split * 100;
  view.querySelector(".mp-before").style.clipPath = `inset(0 ${100 - percent}% 0 0)`;
  const divider = view.querySelector(".mp-divider");
  divider.style.left = `${percent}%`;
  divider.setAttribute("aria-valuenow", String(Math.round(percent)));
}

function setSource(image, source) {
  if (image.getAttribute("src") !== source) image.setAttribute("src", source);
}

function update(view, state, data) {
  const frame = view.querySelector(".mp-frame");
  frame.style.aspectRatio = `${data.width} / ${data.height}`;
  frame.style.setProperty("--mp-max-width", `calc(${data.maxHeight} * ${data.width / data.height})`);
  frame.classList.toggle("mp-hints", Boolean(data.hintsEnabled));
  setSource(view.querySelector(".mp-before"), data.before);
  setSource(view.querySelector(".mp-after"), data.after);
  view.querySelector(".mp-label-before").textContent = data.beforeLabel;
  view.querySelector(".mp-label-after").textContent = data.afterLabel;
  const markers = view.querySelector(".mp-markers");
  markers.replaceChildren(...data.markers.map((marker, index) => {
    const element = document.createElement("div");
    element.className = marker.selected ? "mp-marker mp-selected" : "mp-marker";
    element.dataset.index = String(index);
    element.title = `Hint ${index + 1}: ${marker.color}`;
    element.style.left = `${marker.x * 100}%`;
    element.style.top = `${marker.y * 100}%`;
    element.style.background = marker.color;
    return element;
  }));
  setSplit(view, state, state.split);
}

export default function ({ data, parentElement, setTriggerValue }) {
  let view = parentElement.querySelector(".mp-view");
  if (!view) {
    const state = { split: 0.5, drag: null, data, send: setTriggerValue };
    view = build(parentElement, state);
    view.mpState = state;
  }
  const state = view.mpState;
  state.data = data;
  state.send = setTriggerValue;
  update(view, state, data);
}
"""

_component = st.components.v2.component("masterpiece_photo_view", css=_CSS, js=_JS)


@dataclass(frozen=True)
class Marker:
    """A hint drawn on the photo: position as fractions of width and height, ``"#rrggbb"``."""

    x: float
    y: float
    color: str
    selected: bool = False


def data_url(encoded: bytes, mime: str) -> str:
    """``data:`` URL of an encoded image, so the browser needs no other request for it."""
    return f"data:{mime};base64,{base64.b64encode(encoded).decode('ascii')}"


def jpeg_url(rgb: np.ndarray) -> str:
    """``data:`` URL of ``(H, W, 3)`` float RGB in [0, 1] as a JPEG, for :func:`photo_view`."""
    return data_url(encode_image(rgb, "JPEG", quality=PREVIEW_QUALITY), "image/jpeg")


def photo_view(
    *,
    key: str,
    before: str,
    after: str,
    size: tuple[int, int],
    before_label: str = "Original",
    after_label: str = "Colorized",
    markers: Sequence[Marker] = (),
    hints_enabled: bool = False,
    max_height: str = "75vh",
    on_click: Callable[[], None] | None = None,
    on_move: Callable[[], None] | None = None,
    on_select: Callable[[], None] | None = None,
) -> Any:
    """Show the comparison; the callbacks run on the rerun that follows an event.

    Args:
        key: the component's key; in a callback, ``st.session_state[key]`` holds the event
            (``.click`` / ``.move`` / ``.select``: ``{"x", "y"}`` fractions, ``"index"``).
        before, after: image URLs (see :func:`jpeg_url`), of the same aspect ratio.
        size: ``(width, height)`` of the images, for the aspect ratio.
        markers: hints to draw.
        hints_enabled: clicks place hints (else they move the divider).
        max_height: CSS length the photo never exceeds (portraits on wide screens).
    """
    width, height = size
    data = {
        "before": before,
        "after": after,
        "width": width,
        "height": height,
        "beforeLabel": before_label,
        "afterLabel": after_label,
        "hintsEnabled": hints_enabled,
        "maxHeight": max_height,
        "markers": [
            {"x": m.x, "y": m.y, "color": m.color, "selected": m.selected} for m in markers
        ],
    }
    # an event is only reported to Python when it has a callback
    return _component(
        key=key,
        data=data,
        on_click_change=on_click or _ignore,
        on_move_change=on_move or _ignore,
        on_select_change=on_select or _ignore,
    )


def _ignore() -> None:
    """The callback of events nobody listens to."""
