"""Where cached ONNX exports of registered models live (``models/runtime``)."""

from __future__ import annotations

from masterpiece.models.catalogue import builtin, decoding_tag
from masterpiece.models.runtime import exported_onnx_path

SHA = "ab" * 32


def test_decoding_tag_is_empty_for_the_plain_annealed_mean() -> None:
    assert decoding_tag(1.0, 0.0) == ""
    assert decoding_tag(0.8, 0.6) == "-a0.8-t0.6"
    assert decoding_tag(0.8, 0.6) != decoding_tag(0.8, 0.7) != decoding_tag(0.6, 0.7)


def test_an_export_name_carries_the_models_decoding() -> None:
    """A version that decodes the compact model otherwise looks for another file (a cached
    export's metadata carries the decoding it was made with)."""
    info = builtin("compact")
    compact = exported_onnx_path("compact", SHA, "int8")
    assert compact.name == f"compact-{SHA[:16]}{decoding_tag(info.annealed_weight, info.regression_tint)}-int8.onnx"
    assert (info.annealed_weight, info.regression_tint) != (1.0, 0.0)  # the bundled model blends its heads
    assert exported_onnx_path("eccv16", SHA, "fp32").name == f"eccv16-{SHA[:16]}-fp32.onnx"
    assert exported_onnx_path("my-model", SHA, "fp32").name == f"my-model-{SHA[:16]}-fp32.onnx"
