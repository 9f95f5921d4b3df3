"""The two baselines Masterpiece is measured against, rebuilt from their recipes.

1. :class:`OfficialPipeline`, the official demo (REFERENCE.md section 4): PIL bicubic resize
   to 256x256 (aspect ratio stretched), ``skimage.color.rgb2lab`` on the original and the
   resized image, the ECCV16 network in float32 eager PyTorch with the published head (plain
   softmax, T = 1, ``model_out`` then x4 upsampling and x110), ab upsampled with bilinear
   ``F.interpolate`` to the original size, concatenated with the original L,
   ``skimage.color.lab2rgb``, saved with matplotlib (here as JPEG of quality 95, like
   Masterpiece's output, where the demo wrote PNG). One image at a time.
2. :class:`SeedPipeline`, the seed's OpenCV DNN path (REFERENCE.md section 3): L - 50 at
   224x224, the net with the annealing scale 2.606 before the softmax and the bin centres in
   ``class8_ab``, ab resized with OpenCV, Lab -> BGR with OpenCV. OpenCV 5 removed the Caffe
   importer; there the same network runs from its ONNX export in OpenCV DNN and the seed's
   head (scale, softmax, bin centres) runs in NumPy. :attr:`SeedPipeline.importer` says which.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from masterpiece.models import AB_SCALE, DEFAULT_TEMPERATURE
from masterpiece.models.eccv16 import ECCV16Colorizer
from masterpiece.models.export import export_onnx
from tests.support.caffe_writer import ANNEAL_LAYER, write_caffe_release


def official_forward(model: ECCV16Colorizer, lightness: torch.Tensor) -> torch.Tensor:
    """The published model's output: ``upsample4(model_out(softmax(logits))) * 110``, ab ``(B, 2, 4h, 4w)``."""
    with torch.no_grad():
        logits = model.predict(lightness).logits
        ab = model.model_out(torch.softmax(logits, dim=1))
        return F.interpolate(ab, scale_factor=4, mode="bilinear", align_corners=False) * AB_SCALE


class OfficialPipeline:
    """The official demo pipeline (float32 eager PyTorch, scikit-image colour, matplotlib output)."""

    name = "official demo (PIL + skimage + eager fp32 + matplotlib)"

    def __init__(self, model: ECCV16Colorizer, size: int = 256) -> None:
        self.model = model.eval()
        self.size = size

    def network_input(self, rgb: np.ndarray) -> torch.Tensor:
        """``(H, W, 3)`` uint8 RGB -> the ``(1, 1, size, size)`` float32 L the network sees."""
        from skimage import color

        resized = np.asarray(Image.fromarray(rgb).resize((self.size, self.size), resample=Image.BICUBIC))
        return torch.from_numpy(color.rgb2lab(resized)[:, :, 0])[None, None].float()

    def colorize_array(self, rgb: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB -> ``(H, W, 3)`` float RGB in [0, 1] (float64, as skimage gives)."""
        from skimage import color

        l_original = color.rgb2lab(rgb)[:, :, 0]
        ab = official_forward(self.model, self.network_input(rgb))
        ab = F.interpolate(ab, size=l_original.shape, mode="bilinear", align_corners=False)
        lab = torch.cat((torch.from_numpy(l_original)[None, None].float(), ab), dim=1)
        return color.lab2rgb(lab[0].permute(1, 2, 0).numpy())

    def colorize_file(self, source: Path, destination: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rgb = np.asarray(Image.open(source).convert("RGB"))
        options = {"pil_kwargs": {"quality": 95}} if destination.suffix.lower() in (".jpg", ".jpeg") else {}
        plt.imsave(destination, np.clip(self.colorize_array(rgb), 0, 1), **options)


class SeedPipeline:
    """The seed's OpenCV DNN pipeline on the same weights (written as the Caffe release, or ONNX)."""

    def __init__(self, model: ECCV16Colorizer, workdir: Path, size: int = 224, temperature: float = DEFAULT_TEMPERATURE) -> None:
        self.size = size
        self.temperature = temperature
        self.centers = model.bin_centers.detach().cpu().numpy().astype(np.float32)  # (313, 2)
        files = write_caffe_release(model, workdir / "caffe", size, temperature)
        if hasattr(cv2.dnn, "readNetFromCaffe"):
            self.importer = "caffe"
            self.net = cv2.dnn.readNetFromCaffe(str(files["prototxt"]), str(files["caffemodel"]))
            pts = np.load(files["pts_in_hull"]).T.reshape(2, 313, 1, 1).astype(np.float32)
            self.net.getLayer(self.net.getLayerId("class8_ab")).blobs = [pts]
            self.net.getLayer(self.net.getLayerId(ANNEAL_LAYER)).blobs = [np.full((1, 313), 1 / temperature, np.float32)]
        else:
            self.importer = "onnx (this OpenCV has no Caffe importer; head in NumPy)"
            self.net = cv2.dnn.readNetFromONNX(str(export_onnx(model, workdir / "seed.onnx", size=64, overwrite=True)))
        self.name = f"seed (OpenCV DNN, {self.importer.split(' ')[0]})"

    def network_ab(self, lightness: np.ndarray) -> np.ndarray:
        """``(S, S)`` float32 L in [0, 100] -> ``(S/4, S/4, 2)`` ab in Lab units (annealed mean)."""
        if self.importer == "caffe":
            self.net.setInput(cv2.dnn.blobFromImage(lightness - 50.0))
            return self.net.forward()[0].transpose(1, 2, 0)
        self.net.setInput(lightness[None, None].astype(np.float32), "lightness")
        logits = self.net.forward()[0] / self.temperature  # (313, h, w)
        logits -= logits.max(axis=0, keepdims=True)
        weights = np.exp(logits)
        weights /= weights.sum(axis=0, keepdims=True)
        return np.einsum("qhw,qc->hwc", weights, self.centers)

    def colorize_array(self, rgb: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB -> ``(H, W, 3)`` uint8 RGB, as the seed did."""
        lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
        small = cv2.resize(lab[:, :, 0], (self.size, self.size))
        ab = cv2.resize(self.network_ab(small), (rgb.shape[1], rgb.shape[0]))
        out = cv2.cvtColor(np.concatenate((lab[:, :, :1], ab), axis=2), cv2.COLOR_Lab2RGB)
        return (np.clip(out, 0, 1) * 255).astype(np.uint8)
