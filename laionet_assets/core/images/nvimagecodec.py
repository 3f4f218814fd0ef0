"""The ``nvimgcodec`` decoder's batch decode: NVIDIA nvImageCodec decodes a batch's JPEGs in one
call, on the GPU when the model runs on CUDA (the A100/H100 hardware JPEG decoders first, then
nvJPEG's CUDA and hybrid decoders), else on the CPU (its libjpeg-turbo, ``workers`` threads; its
pixels are PIL's, bit for bit).  The resize and crop are the ``tensor`` decoder's
(``core.images.preprocess.resize_crop``, on the model's device).

It runs in the reading thread, one batch ahead of the model.  What it is not given goes by the
CPU's rules (``Staged.on_cpu``): a JPEG whose header is not one- or three-channel (CMYK, YCCK) or
does not parse.  An image it fails on comes back as ``None`` (the others of the batch are
decoded) and goes by the CPU's rules too, so a bad file gets ``pil``'s error text.
"""

from __future__ import annotations

from laionet_assets.core.images.pixels import JPEG_MAGIC
from laionet_assets.core.images.preprocess import Preprocessing, resize_crop

MISSING = (
    "the nvimgcodec decoder needs NVIDIA nvImageCodec: install the nvimgcodec extra (make setup "
    "does; or pip install -e '.[nvimgcodec]' in the checkout)"
)


def available() -> bool:
    """Whether nvImageCodec is installed (the ``nvimgcodec`` extra)."""
    import importlib.util

    try:
        return importlib.util.find_spec("nvidia.nvimgcodec") is not None
    except ModuleNotFoundError:  # no nvidia namespace package at all
        return False


def _code_stream(data: bytes):
    """nvImageCodec's parse of a JPEG's header, or ``None`` when that header is not one- or
    three-channel (CMYK, YCCK: ``load_rgb``'s conversions) or does not parse."""
    from nvidia import nvimgcodec

    try:  # the header is parsed on the first look at it
        stream = nvimgcodec.CodeStream(data)
        usable = stream.num_channels in (1, 3) and stream.width > 0 and stream.height > 0
    except RuntimeError:  # PIL's rules then say what is wrong with it
        return None
    return stream if usable else None


class NvImageCodec:
    """Decode JPEGs with nvImageCodec into ``uint8 [3, crop, crop]`` tensors on ``device`` (see
    the module's docstring)."""

    in_reader = True

    def __init__(self, preprocessing: Preprocessing, device: str, threads: int):
        if not available():
            raise ImportError(MISSING)
        self.preprocessing, self.device, self.threads = preprocessing, device, threads
        self.decoder = None  # made in the reading thread, where it is used

    def takes(self, data: bytes) -> bool:
        return data.startswith(JPEG_MAGIC)

    def _decoder(self):
        from nvidia import nvimgcodec

        if self.device.startswith("cuda"):
            import torch

            index = torch.device(self.device).index
            device_id, backends = torch.cuda.current_device() if index is None else index, None
        else:
            device_id = nvimgcodec.NVIMGCODEC_DEVICE_CPU_ONLY
            backends = [nvimgcodec.Backend(nvimgcodec.BackendKind.CPU_ONLY)]
        decoder = nvimgcodec.Decoder(device_id=device_id, max_num_cpu_threads=self.threads, backends=backends)
        params = nvimgcodec.DecodeParams(
            apply_exif_orientation=False, color_spec=nvimgcodec.SRGB, sample_format=nvimgcodec.I_RGB
        )
        return decoder, params

    def decode(self, staged) -> None:
        """Decode ``staged.jpegs`` into ``staged.ready`` (or by the CPU's rules), and empty it."""
        import numpy as np
        import torch
        from nvidia import nvimgcodec

        taken, streams = [], []
        for i, data in staged.jpegs.items():
            stream = _code_stream(data)
            if stream is None:
                staged.on_cpu(i, data)
            else:
                taken.append(i)
                streams.append(stream)
        if taken:
            self.decoder = self.decoder or self._decoder()
            decoder, params = self.decoder
            on_device = self.device.startswith("cuda")
            # on the model's stream (the reading thread's current one), so torch's work follows it
            stream = torch.cuda.current_stream(self.device).cuda_stream if on_device else 0
            images = decoder.decode(streams, params=params, cuda_stream=stream)
            for i, image in zip(taken, images):
                if image is None:  # it could not: the CPU's rules, and pil's error text
                    staged.on_cpu(i, staged.jpegs[i])
                    continue
                if on_device and image.buffer_kind == nvimgcodec.ImageBufferKind.STRIDED_DEVICE:
                    pixels = torch.as_tensor(image, device=self.device)
                else:
                    pixels = torch.from_numpy(np.asarray(image.cpu()))
                staged.ready[i] = resize_crop(pixels.permute(2, 0, 1), self.preprocessing, self.device)
        staged.jpegs.clear()
