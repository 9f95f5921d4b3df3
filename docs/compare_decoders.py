"""Compare ways of decoding the compact model's output on one or more folders of photographs.

    .venv/bin/python docs/compare_decoders.py WEIGHTS DATA_DIR [DATA_DIR ...] [--limit N]
        [--variants annealed@0.38 regression blend0.5@0.38 annealed@0.38+flip ...]

A variant is ``DECODER[@T][+flip][+regmeanA][+vividG][+shiftG][+guided][+prop[L[/W]][^G]]``: ``annealed`` (annealed mean of the bin
distribution at temperature ``T``), ``regression`` (the regression head), ``blendW`` (``W``
times the annealed mean plus ``1 - W`` times the regression head), ``+flip`` averages the
network's output over the image and its mirror image, ``+regmeanA`` moves each image's mean ab
``A`` of the way (default 1) to the regression head's (the shipped ``regression_tint``), ``+vividG``
scales each image's colours around its mean ab by ``G`` (its tint kept), ``+shiftG`` moves the
whole picture by ``G`` times the hints' mean correction before they are spread, ``+guided`` upsamples ab with the
edge-aware filter guided by the full-resolution L, ``+prop`` spreads the hints
(:mod:`masterpiece.color.hint_propagation`, as shipped; ``L`` sets the lightness sigma,
``/W`` the data weight, ``^G`` spreads on a ``G x G`` grid, the network's colours upsampled
bilinearly). Prints each variant's summary with the gray
baseline measured in the same run (the numbers quoted in MODEL_CARD.md) and writes the full
reports to ``reports/decoders/<folder>``.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from masterpiece.evaluation import EvaluationSettings, write_report
from masterpiece.evaluation.data import load_eval_images
from masterpiece.evaluation.runner import Candidate, evaluate_candidates
from masterpiece.models import create_model

_VARIANT = re.compile(
    r"^(annealed|regression|blend(?P<w>[0-9.]+)|adaptive(?P<s>[0-9.]+))(@(?P<t>[0-9.]+))?(?P<flip>\+flip)?(?P<regmean>\+regmean(?P<rm>[0-9.]+)?)?(?P<vivid>\+vivid(?P<vg>[0-9.]+))?(?P<shift>\+shift(?P<sg>[0-9.]+))?(?P<guided>\+guided)?(?P<prop>\+prop((?P<pl>[0-9.]+)(/(?P<pw>[0-9.e-]+))?)?(\^(?P<pg>[0-9]+))?)?$"
)


@dataclass
class DecoderVariant:
    name: str
    blend: float  # weight of the annealed mean (1 = annealed only, 0 = regression only)
    temperature: float
    flip: bool
    guided: bool
    confidence_scale: float | None = None  # adaptive: weight = clip(scale * (1 - normalized entropy), 0, 1)
    propagation: tuple[float, float] | None = None  # +propL/W: hints spread (lightness sigma, data weight)
    regression_mean: float = 0.0  # +regmeanA: the image's mean ab moved to the regression head's by A (default 1), the rest from the decoder
    vivid: float = 1.0  # +vividG: each image's ab deviations from its mean ab scaled by G (its tint kept)
    propagation_grid: int = 0  # +prop...^G: spread on a G x G grid (ab upsampled bilinearly); 0: the network's
    hint_shift_weight: float = 0.0  # +shiftG: the whole picture moved by G times the hints' mean correction (before spreading)

    @classmethod
    def parse(cls, text: str) -> DecoderVariant:
        match = _VARIANT.match(text)
        if not match:
            raise SystemExit(f"bad variant {text!r}: DECODER[@T][+flip][+regmeanA][+vividG][+shiftG][+guided][+prop[L[/W]][^G]]")
        kind = match.group(1)
        scale = float(match.group("s")) if match.group("s") else None
        blend = 1.0 if kind == "annealed" or scale else 0.0 if kind == "regression" else float(match.group("w"))
        propagation = None
        if match.group("prop"):
            from masterpiece.color.hint_propagation import (
                DEFAULT_DATA_WEIGHT,
                DEFAULT_LIGHTNESS_SIGMA,
            )

            propagation = (
                float(match.group("pl") or DEFAULT_LIGHTNESS_SIGMA), float(match.group("pw") or DEFAULT_DATA_WEIGHT)
            )
        return cls(
            text, blend, float(match.group("t") or 0.38), bool(match.group("flip")), bool(match.group("guided")), scale,
            propagation, float(match.group("rm") or 1.0) if match.group("regmean") else 0.0,
            float(match.group("vg")) if match.group("vivid") else 1.0,
            hint_shift_weight=float(match.group("sg")) if match.group("shift") else 0.0,
            propagation_grid=int(match.group("pg") or 0),
        )


class VariantPredictor:
    """Full-resolution ab from L with one decoding variant (the evaluation's predictor protocol)."""

    def __init__(self, model, variant: DecoderVariant, size: int = 256) -> None:
        self.model, self.variant, self.size = model.eval(), variant, size

    def _network(self, small_l, hint_ab, hint_mask):
        from masterpiece.color.annealed import blend_decoded
        from masterpiece.color.quantize import decode_annealed_mean

        prediction = self.model.predict(small_l, hint_ab, hint_mask)
        ab = prediction.ab
        if self.variant.blend > 0:
            annealed = decode_annealed_mean(prediction.logits, self.model.bin_centers, self.variant.temperature)
            weight = self.variant.blend
            if self.variant.confidence_scale is not None:
                probabilities = prediction.logits.float().softmax(dim=1)
                entropy = -(probabilities * probabilities.clamp(min=1e-12).log()).sum(dim=1, keepdim=True)
                normalized = entropy / torch.log(torch.tensor(float(probabilities.shape[1])))
                weight = (self.variant.confidence_scale * (1 - normalized)).clamp(0, 1)
            if isinstance(weight, float):
                ab = blend_decoded(annealed, ab, weight, self.variant.regression_mean)
            else:
                ab = weight * annealed + (1 - weight) * ab
        if self.variant.vivid != 1.0:
            mean = ab.mean(dim=(2, 3), keepdim=True)
            ab = mean + self.variant.vivid * (ab - mean)
        if self.variant.hint_shift_weight and hint_mask is not None:
            at_hints = F.interpolate(ab.float(), size=hint_mask.shape[-2:], mode="bilinear", align_corners=False)
            counted = hint_mask.sum(dim=(2, 3), keepdim=True)
            correction = ((hint_ab - at_hints) * hint_mask).sum(dim=(2, 3), keepdim=True) / counted.clamp(min=1)
            ab = ab + self.variant.hint_shift_weight * correction
        if self.variant.propagation is not None and hint_ab is not None:
            from masterpiece.color.hint_maps import HintMaps
            from masterpiece.color.hint_propagation import propagate_hints

            tonal, weight = self.variant.propagation
            if self.variant.propagation_grid:
                grid = self.variant.propagation_grid
                ab = F.interpolate(ab.float(), size=(grid, grid), mode="bilinear", align_corners=False)
            ab = torch.from_numpy(
                propagate_hints(
                    small_l.numpy(), ab.float().numpy(), HintMaps(hint_ab.numpy(), hint_mask.numpy()),
                    lightness_sigma=tonal, data_weight=weight,
                )
            )
        return ab

    @torch.inference_mode()
    def predict_ab(self, lightness, hints=None):
        hint_ab, hint_mask = (None, None) if hints is None else hints
        height, width = lightness.shape[-2:]
        small = F.interpolate(lightness, size=(self.size, self.size), mode="bicubic", antialias=True, align_corners=False)
        if hint_ab is not None:
            coverage = F.adaptive_avg_pool2d(hint_mask, (self.size, self.size))
            hint_ab = F.adaptive_avg_pool2d(hint_ab * hint_mask, (self.size, self.size)) / coverage.clamp(min=1e-8)
            hint_mask = (coverage > 0).float()
            hint_ab = hint_ab * hint_mask
        ab = self._network(small, hint_ab, hint_mask)
        if self.variant.flip:
            flipped = self._network(
                small.flip(-1), None if hint_ab is None else hint_ab.flip(-1), None if hint_mask is None else hint_mask.flip(-1)
            )
            ab = 0.5 * (ab + flipped.flip(-1))
        ab = F.interpolate(ab, size=(height, width), mode="bilinear", align_corners=False)
        if self.variant.guided:
            from guided_upsampling import guided_upsample_ab

            refined = [
                guided_upsample_ab(l[0].numpy(), a.permute(1, 2, 0).contiguous().numpy(), cell=height / (self.size / 4))
                for l, a in zip(lightness.float(), ab.float())
            ]
            ab = torch.stack([torch.from_numpy(r).permute(2, 0, 1) for r in refined])
        return ab


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path)
    parser.add_argument("data", type=Path, nargs="+")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--variants", nargs="+", default=["annealed@0.38", "regression"])
    parser.add_argument("--no-hints", action="store_true", help="skip the hint sweep")
    parser.add_argument("--out", type=Path, default=Path("reports/decoders"))
    args = parser.parse_args()
    settings = EvaluationSettings(limit=args.limit, hint_sweep=not args.no_hints, hint_counts=(0, 10), resamples=1000)
    model = create_model("compact", weights=args.weights)
    variants = [DecoderVariant.parse(text) for text in args.variants]
    for folder in args.data:
        images, skipped = load_eval_images(folder, settings.eval_size, args.limit)
        candidates = [Candidate(v.name, VariantPredictor(model, v), accepts_hints=True, model="compact") for v in variants]
        result = evaluate_candidates(images, candidates, settings, skipped=skipped, data_dir=str(folder))
        write_report(result, args.out / folder.name, overwrite=True)
        truth = result.ground_truth_colorfulness.mean
        print(f"## {folder} ({len(images)} images; originals' colourfulness {truth:.1f})")
        print("| variant | raw AuC | rebal. AuC | PSNR | colourful % | cast | PSNR +10 hints |")
        for evaluation in (result.baseline, *result.models):
            s = evaluation.summary
            sweep = evaluation.hint_sweep or {}
            hints = f"{sweep[10].mean - sweep[0].mean:+.2f}" if 10 in sweep else ""
            print(
                f"| {evaluation.label} | {s['raw_auc'].mean:.2f} | {s['rebalanced_auc'].mean:.2f} | {s['psnr'].mean:.2f} "
                f"| {100 * s['colorfulness'].mean / truth:.1f} | {s['color_cast'].mean:.2f} | {hints} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
