"""The model catalogue: what each built-in model is, readable without PyTorch.

``masterpiece models list``, default-model selection and the ONNX Runtime path need only the
metadata (name, description, weights, hints, input size, rank), so it lives here, apart from
the architectures: an architecture module (which imports torch) is imported only when its
network is built (:func:`masterpiece.models.create_model`). Its ``@register_model`` then
attaches the factory to the entry below and checks that any metadata it repeats is equal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..settings import DEFAULT_TEMPERATURE  # noqa: F401  (the paper's; importable from here and masterpiece.models)


@dataclass(frozen=True)
class WeightsSpec:
    """Where a model's pretrained weights come from and how to verify them.

    Attributes:
        filename: the file's name in the cache (or in the package for bundled weights).
        sha256: full hex sha256 of the file as published.
        license: licence of the weights.
        source: a human-readable origin (paper, project page).
        url: download address, or ``None`` for weights shipped inside the package.
        size_bytes: the file's size when known (shown by ``models list``).
        bundled: ``True`` when the file ships inside the package (``models/bundled``).
    """

    filename: str
    sha256: str
    license: str
    source: str
    url: str | None = None
    size_bytes: int | None = None
    bundled: bool = False


@dataclass(frozen=True)
class ModelInfo:
    """A registered model: its key, what it is, how to build it and where its weights are.

    Attributes:
        name: the registry key (the factory function's name).
        description: one line for ``models list``.
        input_size: default side of the square L image the network sees.
        accepts_hints: whether the model takes user colour hints.
        weights: the published weights, or ``None`` when there are none.
        factory: builds the architecture with random weights; ``None`` until ``module`` is
            imported (built-in models, see the module docstring).
        quality_rank: higher is preferred when choosing a default among available models.
        module: the module whose import registers ``factory`` (built-in models).
        spreads_hints: the pipeline spreads hints over the regions they fall in after the
            network (:mod:`masterpiece.color.hint_propagation`): for models that follow a hint
            only around itself.
        annealed_weight: for a model with a classification and a regression head, the weight
            of the annealed mean in the decoded ab (1: the annealed mean alone).
        regression_tint: how far each image's mean ab is then moved to the regression head's
            (0: not at all); see :func:`masterpiece.color.annealed.blend_decoded`.
    """

    name: str
    description: str
    input_size: int
    accepts_hints: bool
    weights: WeightsSpec | None
    factory: Callable[..., object] | None = None
    quality_rank: int = 0
    module: str | None = None
    spreads_hints: bool = False
    annealed_weight: float = 1.0
    regression_tint: float = 0.0

    def metadata(self) -> tuple[object, ...]:
        """Everything but how to build it (compared when an architecture registers itself)."""
        return (self.name, self.description, self.input_size, self.accepts_hints, self.weights, self.quality_rank)


def decoding_tag(annealed_weight: float, regression_tint: float) -> str:
    """``""`` for the plain annealed mean, else ``"-a<weight>-t<tint>"``: part of the names of
    cached ONNX exports, whose metadata carries the decoding, so that a change of decoding
    (a new version, or an edited model) makes a new export instead of reusing a stale one."""
    if float(annealed_weight) == 1.0 and float(regression_tint) == 0.0:
        return ""
    return f"-a{float(annealed_weight):g}-t{float(regression_tint):g}"


BUNDLED_COMPACT_WEIGHTS = WeightsSpec(
    filename="masterpiece_compact_v2.safetensors",
    sha256="01a23c3ea42c53e0be000645f610f52b9e530dfcd17a65f068f6e68fd6a0facc",
    size_bytes=10_459_864,
    license="non-commercial research (inherits the ImageNet, COCO, UTKFace and Clothing Co-Parsing terms of its training data; MODEL_CARD.md)",
    source="Masterpiece compact v2, trained on the project's training sets with people (see MODEL_CARD.md)",
    bundled=True,
)

ECCV16_WEIGHTS = WeightsSpec(
    filename="colorization_release_v2-9b330a0b.pth",
    sha256="9b330a0bae53f4ded77b1e23defbf78beaa09c10ebc4c4999e8e4f4a160b93f9",
    license="BSD-2-Clause",
    source="Zhang, Isola, Efros, ECCV 2016 (github.com/richzhang/colorization)",
    url="https://colorizers.s3.us-east-2.amazonaws.com/colorization_release_v2-9b330a0b.pth",
    size_bytes=None,  # about 129 MB; the exact size is not published
)

SIGGRAPH17_WEIGHTS = WeightsSpec(
    filename="siggraph17-df00044c.pth",
    sha256="df00044c0a4d7c3edcecf6f75437ce346a66e7a42612d9b968e1a7e17dbc6f66",
    license="BSD-2-Clause",
    source="Zhang, Zhu, Isola et al., SIGGRAPH 2017 (github.com/richzhang/colorization)",
    url="https://colorizers.s3.us-east-2.amazonaws.com/siggraph17-df00044c.pth",
    size_bytes=136787426,
)

#: the built-in models, without their factories (attached when their module is imported)
BUILTIN_MODELS: tuple[ModelInfo, ...] = (
    ModelInfo(
        name="compact",
        description="Masterpiece compact model: hint-aware, fast on CPU, bundled for offline use",
        input_size=256,
        accepts_hints=True,
        weights=BUNDLED_COMPACT_WEIGHTS,
        quality_rank=1,
        module="masterpiece.models.compact",
        spreads_hints=True,
        # the annealed mean for the colours, each image's overall tint taken 0.6 of the way to
        # the regression head's (MODEL_CARD.md, "Which decoder, with numbers")
        annealed_weight=0.8,
        regression_tint=0.6,
    ),
    ModelInfo(
        name="eccv16",
        description="ECCV 2016 'Colorful Image Colorization' (automatic, vivid; 32 M parameters)",
        input_size=256,
        accepts_hints=False,
        weights=ECCV16_WEIGHTS,
        quality_rank=2,
        module="masterpiece.models.eccv16",
    ),
    ModelInfo(
        name="siggraph17",
        description="SIGGRAPH 2017 user-guided colorization (accepts colour hints; 34 M parameters)",
        input_size=256,
        accepts_hints=True,
        weights=SIGGRAPH17_WEIGHTS,
        quality_rank=3,
        module="masterpiece.models.siggraph17",
    ),
)


def builtin(name: str) -> ModelInfo:
    """The catalogue entry of the built-in model ``name``: where its architecture reads what
    the catalogue states once (whether it accepts hints), so the two cannot disagree.

    Raises:
        KeyError: ``name`` is not a built-in model.
    """
    for info in BUILTIN_MODELS:
        if info.name == name:
            return info
    raise KeyError(f"{name!r} is not a built-in model")


def builtin_decoding_tag(name: str) -> str:
    """:func:`decoding_tag` of the built-in model ``name`` (``""`` for any other name)."""
    try:
        info = builtin(name)
    except KeyError:
        return ""
    return decoding_tag(info.annealed_weight, info.regression_tint)


def spreads_hints(name: str) -> bool:
    """Whether the pipeline spreads the hints of the built-in model ``name`` (False if unknown)."""
    return any(info.spreads_hints for info in BUILTIN_MODELS if info.name == name)
