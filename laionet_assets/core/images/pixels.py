"""Decoded images as RGB: the one conversion every model and check in the project applies.

Conversion rules (``load_rgb``), so that "RGB only" is well defined for every mode PIL decodes:

* ``RGB`` as is; ``L``, ``1``, ``P``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV`` → PIL's ``convert("RGB")``
  (a palette's transparency is dropped, CMYK uses PIL's naive inversion);
* ``RGBA``, ``LA``, ``PA`` → alpha composited onto white, then RGB;
* 16-bit and 32-bit integer (``I;16*``, ``I``) and float (``F``) → scaled to 8 bits by the
  type's range (16-bit: ``v >> 8``; ``I``/``F``: min–max of the image), then grey → RGB.

"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from laionet_assets.core.io.storage import open_binary

JPEG_MAGIC = b"\xff\xd8\xff"  # how a JPEG file begins (the decoders send these to the GPU)

Image.MAX_IMAGE_PIXELS = 200_000_000  # decompression-bomb guard; larger is refused, never crashes


def to_rgb(image: Image.Image) -> Image.Image:
    """The module's conversion rules, applied to a decoded image."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode.startswith("I;16"):
        grey = (np.asarray(image, dtype=np.uint16) >> 8).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = np.zeros_like(values) if high == low else (values - low) / (high - low) * 255
        return Image.fromarray(np.round(scaled).astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


def load_rgb(path: str | os.PathLike) -> Image.Image:
    with open_binary(path) as f, Image.open(f) as image:
        image.load()
        return to_rgb(image)
