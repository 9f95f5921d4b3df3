"""The Masterpiece page: upload black-and-white photographs and see them in colour.

Run it with ``masterpiece app``, or ``streamlit run <this file> [-- --model NAME --weights
FILE]``. This file is the layout only: the computing is in :mod:`masterpiece.app.studio` (over
:mod:`masterpiece.pipeline`), the hint controls in :mod:`masterpiece.app.hint_panel`, the
photo component in :mod:`masterpiece.app.photo_view`. The page shows screen-sized copies
(at most ``DISPLAY_SIDE`` pixels a side); downloads are colorized at full resolution.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np
import streamlit as st

from masterpiece.app.catalogue import ModelChoice, load_model, model_choices
from masterpiece.app.hint_panel import HintActions, hint_panel
from masterpiece.app.photo_view import Marker, jpeg_url, photo_view
from masterpiece.app.session import Photo, read_upload
from masterpiece.app.studio import FORMATS, Settings, Studio, session_value, take_flashes, too_large_for
from masterpiece.errors import MasterpieceError
from masterpiece.models import DEFAULT_TEMPERATURE
from masterpiece.models.catalogue import spreads_hints
from masterpiece.pipeline.analysis import downscale
from masterpiece.pipeline.image import Colorizer

UPLOAD_TYPES = ["jpg", "jpeg", "png", "tif", "tiff", "webp", "bmp"]
THUMB_SIDE = 480

HOW_IT_WORKS = """
A photograph is first converted to the **CIE Lab** colour space. **L** is the lightness,
all that a black-and-white photo has; **a** and **b** are the colour (green to red, blue to
yellow).

**L in, ab out.** The network sees only L, shrunk to 256 x 256 pixels. For every small patch
it predicts not one colour but a probability for each of a few hundred *ab* colours
(quantized bins): colorization is ambiguous (a shirt may be red or blue), and a network
trained to predict one colour averages the possibilities into a dull brown-grey. The colour is
read from that distribution by the **annealed mean**, which the *temperature* slider tunes:
lower is more vivid (towards the most likely colour), 1 is the plain average.

The predicted ab is enlarged to the photograph's own size and combined with its own
full-resolution L, so every detail of the original is kept: only colour is added.
*Saturation* scales the predicted colour.

**Colour hints** (the SIGGRAPH 2017 and compact models) are extra inputs: the network takes
your colour at that point and spreads it over the region it belongs to. The **uncertainty**
view shows the entropy of the predicted distribution: bright where the model hesitates
between many colours, dark where it is sure.

After Zhang, Isola and Efros, *Colorful Image Colorization* (ECCV 2016), and Zhang, Zhu,
Isola et al., *Real-Time User-Guided Image Colorization with Learned Deep Priors*
(SIGGRAPH 2017).
"""


# --------------------------------------------------------------------------- sidebar


def startup_options() -> argparse.Namespace:
    """``--model NAME --weights FILE`` given after ``--`` to ``streamlit run``."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--model")
    parser.add_argument("--weights")
    options, _ = parser.parse_known_args(sys.argv[1:])
    return options


def model_picker(choices: Sequence[ModelChoice]) -> ModelChoice | None:
    """The model to use among the available ones; the others listed with how to get them."""
    available = {choice.name: choice for choice in choices if choice.available}
    missing = [choice for choice in choices if not choice.available]
    chosen = None
    if available:
        name = st.selectbox(
            "Model", list(available), key="model", help="Models whose weights are on this machine"
        )
        chosen = available[name]
        hints = "accepts colour hints" if chosen.accepts_hints else "automatic only (no hints)"
        st.caption(f"{chosen.description}. {hints.capitalize()}.")
    if missing:
        with st.expander(f"Other models ({len(missing)}): how to get them"):
            for choice in missing:
                st.markdown(f"**{choice.name}**: {choice.description}")
                st.caption(choice.how_to_get)
    return chosen


def sidebar(choices: Sequence[ModelChoice]) -> tuple[list, Settings | None]:
    """The uploads and the settings (``None`` when no model can be used)."""
    limit = int(st.get_option("server.maxUploadSize"))
    with st.sidebar:
        st.header("Masterpiece")
        uploads = st.file_uploader(
            "Black-and-white photographs",
            type=UPLOAD_TYPES,
            accept_multiple_files=True,
            key="uploads",
            help=f"JPEG, PNG, TIFF, WebP or BMP, up to {limit} MB each",
        )
        model = model_picker(choices)
        temperature = st.slider(
            "Temperature",
            0.05,
            1.0,
            DEFAULT_TEMPERATURE,
            0.01,
            key="temperature",
            help="Lower: more vivid (towards the most likely colour); 1: the plain mean",
        )
        saturation = st.slider(
            "Saturation",
            0.0,
            2.0,
            1.0,
            0.05,
            key="saturation",
            help="Multiplies the predicted colour",
        )
        uncertainty = st.toggle(
            "Show uncertainty",
            key="uncertainty",
            help="Where the model is unsure of the colour, as a heat map",
        )
        restoration = restoration_options()
    if model is None:
        return uploads or [], None
    return uploads or [], Settings(model, temperature, saturation, uncertainty, limit, **restoration)


def restoration_options() -> dict:
    """The sidebar's repair switches: Settings' ``restore``, ``detector``, ``auto_levels``,
    ``show_damage``."""
    restore = st.toggle(
        "Repair scratches and dust",
        key="restore",
        help="Find scratches, creases, dust, spots and tears and fill them from their "
        "surroundings before colorizing; every other pixel is kept",
    )
    options = {"restore": restore}
    if restore:
        options["detector"] = st.radio(
            "Damage detector",
            ["learned", "classical"],
            key="detector",
            horizontal=True,
            help="learned: the bundled network; classical: morphological top-hat (the baseline)",
        )
        options["show_damage"] = st.toggle(
            "Show the damage found",
            key="show_damage",
            help="Paints the repaired pixels red over the original",
        )
    options["auto_levels"] = st.toggle(
        "Auto levels (faded prints)",
        key="auto_levels",
        help="Stretches the tones; at most 0.5 % of the pixels become pure black or white",
    )
    return options


# --------------------------------------------------------------------------- the photos


def read_photos(uploads: Sequence, limit_mb: int) -> list[Photo]:
    """The uploads, each read once per session (kept while it stays uploaded)."""
    known: dict[str, Photo] = session_value("photos", dict)
    current = {upload.file_id for upload in uploads}
    for file_id in [file_id for file_id in known if file_id not in current]:
        del known[file_id]
    photos = []
    for upload in uploads:
        if upload.file_id not in known:
            with st.spinner(f"Reading {upload.name}..."):
                known[upload.file_id] = read_upload(upload.file_id, upload, limit_mb * 1024 * 1024)
        photos.append(known[upload.file_id])
    return photos


def colorize_all(photos: Sequence[Photo], studio: Studio) -> dict[str, np.ndarray]:
    """Every photo's screen copy colorized, with a progress bar for several."""
    results = {}
    progress = st.progress(0.0, "Colorizing...") if len(photos) > 1 else None
    with st.spinner("Colorizing..."):
        for done, photo in enumerate(photos, start=1):
            results[photo.file_id] = studio.colorized(photo)
            if progress is not None:
                progress.progress(done / len(photos), f"Colorized {done} of {len(photos)}")
    if progress is not None:
        progress.empty()
    return results


def gallery(photos: Sequence[Photo], results: dict[str, np.ndarray]) -> Photo:
    """Thumbnails of every result; returns the photo chosen for editing."""
    st.subheader(f"Gallery ({len(photos)} photos)")
    columns = st.columns(min(4, len(photos)))
    for number, photo in enumerate(photos):
        thumbnail = downscale(results[photo.file_id], THUMB_SIDE)
        columns[number % len(columns)].image(thumbnail, caption=photo.name)
    by_id = {photo.file_id: photo for photo in photos}
    # Streamlit maps a choice back by its label: two uploads named alike (IMG_0001.jpg from two
    # folders) made the first one impossible to choose, so their labels are numbered
    names = [photo.name for photo in photos]
    labels = {photo.file_id: photo.name if names.count(photo.name) == 1 else f"{photo.name} ({number})"
              for number, photo in enumerate(photos, start=1)}
    chosen = st.selectbox("Photo to edit", list(by_id), format_func=labels.__getitem__, key="current")
    return by_id[chosen]


def photo_area(
    photo: Photo, result: np.ndarray, studio: Studio, actions: HintActions | None
) -> None:
    """The before/after comparison (or uncertainty), where clicks place hints."""
    after, label = result, "Colorized"
    before, before_label = photo.preview, "Original"
    if studio.settings.show_damage and studio.settings.restore:
        before, before_label = studio.damage_overlay(photo), "Damage found (red)"
    if studio.settings.uncertainty:
        try:
            after, label = studio.uncertainty_overlay(photo), "Uncertainty"
        except MasterpieceError as error:
            st.info(f"No uncertainty view: {error}")
    markers = []
    if actions is not None:
        width, height = photo.image.size
        markers = [
            Marker(h.x / width, h.y / height, str(h.color), i == actions.book.selected)
            for i, h in enumerate(actions.book.hints)
        ]
    height, width = photo.preview.shape[:2]
    photo_view(
        key=view_key(photo),
        before=jpeg_url(before),
        after=jpeg_url(after),
        size=(width, height),
        before_label=before_label,
        after_label=label,
        markers=markers,
        hints_enabled=actions is not None,
        on_click=actions.on_click if actions else None,
        on_move=actions.on_move if actions else None,
        on_select=actions.on_select if actions else None,
    )
    if label == "Uncertainty":
        st.caption(
            "Uncertainty: dark where the model is sure of the colour, bright yellow where "
            "it hesitates between many."
        )


def view_key(photo: Photo) -> str:
    return f"photo-{photo.file_id}"


def downloads(photo: Photo, studio: Studio, photos: Sequence[Photo]) -> None:
    """Full-resolution downloads (made when clicked): this photo, and all of them as a zip."""
    st.subheader("Download")
    label = st.segmented_control("Format", list(FORMATS), default="PNG", key="format") or "PNG"
    hints = studio.hints(photo)
    refusals = [reason for reason in (too_large_for(each, label) for each in photos) if reason]
    this_one = too_large_for(photo, label)
    if this_one:  # the encoder would fail on the click, and the browser say only "failed"
        st.warning(this_one)
    else:
        _download_this(photo, studio, hints, label)
    if len(photos) > 1:
        if refusals:
            st.warning(f"the zip cannot hold every photo as {label}: {refusals[0]}")
            return
        jobs = [(each, studio.hints(each)) for each in photos]
        st.download_button(
            f"Download all {len(photos)} (zip)",
            data=lambda: studio.zipped(jobs, label),
            file_name="masterpiece_colorized.zip",
            mime="application/zip",
            key="download-all",
            on_click="ignore",
            icon=":material/folder_zip:",
        )


def _download_this(photo: Photo, studio: Studio, hints: Sequence, label: str) -> None:
    extension, mime = FORMATS[label]
    st.download_button(
        f"Download {label}",
        data=lambda: studio.encoded(photo, hints, label),
        file_name=f"{photo.stem}_colorized.{extension}",
        mime=mime,
        key="download",
        on_click="ignore",
        icon=":material/download:",
        help=f"{photo.stem}_colorized.{extension}, full resolution, with the hints",
    )


# --------------------------------------------------------------------------- the page


def workspace(photos: Sequence[Photo], settings: Settings) -> None:
    """Gallery, comparison, hints and downloads for the readable photos."""
    try:
        with st.spinner(f"Loading the {settings.model.name} model..."):
            weights = str(settings.model.weights) if settings.model.weights else None
            model = load_model(settings.model.name, weights)
        colorizer = Colorizer(
            model, temperature=settings.temperature, saturation=settings.saturation,
            spread_hints=spreads_hints(settings.model.name),
        )
        studio = Studio(colorizer, settings)
        results = colorize_all(photos, studio)
    except MasterpieceError as error:
        st.error(str(error))
        return
    photo = gallery(photos, results) if len(photos) > 1 else photos[0]
    actions = HintActions(photo, studio, view_key(photo)) if studio.accepts_hints else None
    main_column, side_column = st.columns([3, 1])
    with main_column:
        st.subheader(photo.name)
        photo_area(photo, results[photo.file_id], studio, actions)
    with side_column:
        if actions is not None:
            hint_panel(actions)
        else:
            st.info(
                f"The {settings.model.name} model colorizes automatically; choose a model "
                "that accepts colour hints to guide it."
            )
        downloads(photo, studio, photos)


def no_models(choices: Sequence[ModelChoice]) -> None:
    st.warning("No model weights are available on this machine, so nothing can be colorized yet.")
    for choice in choices:
        st.markdown(f"**{choice.name}**: {choice.how_to_get}")


def main() -> None:
    st.set_page_config(
        page_title="Masterpiece: colorize photographs", page_icon="🎨", layout="wide"
    )
    options = startup_options()
    choices = model_choices(options.model, options.weights)
    uploads, settings = sidebar(choices)
    st.title("Masterpiece")
    st.caption(
        "Black-and-white photographs in colour: upload, compare, guide with colour hints, download."
    )
    for message in take_flashes():
        st.error(message)
    if settings is None:
        no_models(choices)
    else:
        photos = read_photos(uploads, settings.upload_limit_mb)
        for photo in photos:
            if photo.error:
                st.error(f"{photo.name}: {photo.error}")
        readable = [photo for photo in photos if photo.image is not None]
        if readable:
            workspace(readable, settings)
        elif not photos:
            st.info(
                "Upload one or several black-and-white photographs in the sidebar "
                "(JPEG, PNG, TIFF, WebP or BMP)."
            )
    with st.expander("How it works"):
        st.markdown(HOW_IT_WORKS)


main()
