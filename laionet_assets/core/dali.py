"""The ``dali`` decoder's batch decode: NVIDIA DALI decodes a batch's JPEGs, resizes and crops
them, on the GPU when the model runs on CUDA (``decoders.image`` on the ``mixed`` backend: the
A100/H100 hardware JPEG decoders, nvJPEG's CUDA decode for the rest), else on the CPU (its
libjpeg-turbo, ``workers`` threads).

Every size is the one torchvision's transform gives (``core.preprocess.shorter_side`` and
``centre_crop_origin``), passed to DALI per image, so the crops cover the same pixels; DALI's
resampling differs from PIL's by a grey level or so (the tolerance is stated in the README and
checked by the tests).  What DALI is not given, or fails on, goes by the CPU's rules
(``Staged.on_cpu``): a JPEG whose header is not one- or three-channel (CMYK, YCCK), one PIL cannot
parse, and every JPEG of a batch DALI fails on (a failed DALI pipeline is not reusable, so it is
built again for the next batch).  Runs in the reading thread, one batch ahead of the model: DALI
works on its own CUDA stream, and the crops are copied into torch on the model's stream.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from laionet_assets.core.preprocess import Preprocessing, centre_crop_origin, shorter_side

_JPEG = b"\xff\xd8\xff"
INPUTS = ("jpegs", "width", "height", "crop_x", "crop_y")


MISSING = (
    "the dali decoder needs NVIDIA DALI: install the dali extra (make setup does; or "
    "pip install -e '.[dali]' in the checkout)"
)


def available() -> bool:
    """Whether DALI is installed (the ``dali`` extra)."""
    import importlib.util

    try:
        return importlib.util.find_spec("nvidia.dali") is not None
    except ModuleNotFoundError:  # no nvidia namespace package at all
        return False


def _header(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` of a one- or three-channel JPEG from its header alone, else ``None``."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size if image.format == "JPEG" and image.mode in ("RGB", "L") else None
    except Exception:  # noqa: BLE001 - PIL's rules then say what is wrong with it
        return None


class DaliCrops:
    """Decode, resize and centre-crop JPEGs with DALI into ``uint8 [n, 3, crop, crop]`` tensors on
    ``device`` (see the module's docstring)."""

    in_reader = True

    def __init__(self, preprocessing: Preprocessing, batch_size: int, device: str, threads: int):
        if not available():
            raise ImportError(MISSING)

        self.preprocessing, self.batch_size, self.device, self.threads = (
            preprocessing,
            batch_size,
            device,
            threads,
        )
        self.pipeline = None

    def takes(self, data: bytes) -> bool:
        return data.startswith(_JPEG)

    def _build(self):
        from nvidia.dali import fn, pipeline_def, types

        p, cuda = self.preprocessing, self.device.startswith("cuda")
        interpolation = {
            "nearest": types.INTERP_NN,
            "bilinear": types.INTERP_LINEAR,
            "bicubic": types.INTERP_CUBIC,
        }[p.interpolation]
        device_id = None
        if cuda:
            import torch

            device_id = torch.device(self.device).index
            device_id = torch.cuda.current_device() if device_id is None else device_id

        @pipeline_def(
            batch_size=self.batch_size,
            num_threads=self.threads,
            device_id=device_id,
            prefetch_queue_depth=1,
            exec_dynamic=True,
        )
        def crops():
            jpegs, width, height, crop_x, crop_y = (fn.external_source(name=name) for name in INPUTS)
            images = fn.decoders.image(
                jpegs, device="mixed" if cuda else "cpu", output_type=types.RGB, adjust_orientation=False
            )
            images = fn.resize(
                images, resize_x=width, resize_y=height, interp_type=interpolation, antialias=True
            )
            images = fn.crop(images, crop_h=p.crop, crop_w=p.crop, crop_pos_x=crop_x, crop_pos_y=crop_y)
            return fn.transpose(images, perm=[2, 0, 1])

        pipeline = crops()
        pipeline.build()
        return pipeline

    def _run(self, sizes: list[tuple[int, int]], jpegs: list[bytes]):
        """One batch through the pipeline: ``uint8 [n, 3, crop, crop]`` on the device."""
        import torch
        from nvidia.dali.plugin.pytorch import feed_ndarray

        p = self.preprocessing
        resized = [shorter_side(w, h, p.resize) for w, h in sizes]
        origins = [centre_crop_origin(w, h, p.crop) for w, h in resized]
        self.pipeline = self.pipeline or self._build()
        # DALI places a crop at crop_pos × (extent − crop): a quarter pixel past torchvision's
        # origin lands on it whether DALI rounds or truncates
        columns = (
            [np.frombuffer(data, np.uint8) for data in jpegs],
            [np.float32(w) for w, _ in resized],
            [np.float32(h) for _, h in resized],
            [np.float32((x + 0.25) / max(w - p.crop, 1)) for (x, _), (w, _) in zip(origins, resized)],
            [np.float32((y + 0.25) / max(h - p.crop, 1)) for (_, y), (_, h) in zip(origins, resized)],
        )
        for name, column in zip(INPUTS, columns):
            self.pipeline.feed_input(name, column)
        (out,) = self.pipeline.run()
        # one copy out of DALI's buffers (reused by its next run), on the CPU or the model's stream
        tensor = out.as_tensor()
        target = torch.empty(tensor.shape(), dtype=torch.uint8, device=self.device)
        stream = torch.cuda.current_stream(target.device) if target.is_cuda else None
        return feed_ndarray(tensor, target, cuda_stream=stream)

    def decode(self, staged) -> None:
        """Decode ``staged.jpegs`` into ``staged.ready`` (or by the CPU's rules), and empty it."""
        taken, sizes = [], []
        for i, data in staged.jpegs.items():
            size = _header(data)
            if size is None or min(size) == 0:
                staged.on_cpu(i, data)
            else:
                taken.append(i)
                sizes.append(size)
        if taken:
            try:
                crops = self._run(sizes, [staged.jpegs[i] for i in taken])
            except Exception:  # noqa: BLE001 - DALI fails the whole batch on one bad JPEG
                self.pipeline = None
                for i in taken:
                    staged.on_cpu(i, staged.jpegs[i])
            else:
                for k, i in enumerate(taken):
                    staged.ready[i] = crops[k]
        staged.jpegs.clear()
