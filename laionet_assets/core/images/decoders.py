"""Decoding and batching: image files → preprocessed tensors on a model's device, per batch,
with an error per image that could not be decoded (never fatal).  The loop that runs models over
these batches is ``core.models.runner``.

Four decoders give the same batches:

* ``pil``: PIL (``core.images.pixels.load_rgb``) and the model's own torchvision transform, in DataLoader
  worker processes so decoding overlaps the forward pass.  The workers send ``uint8`` pixels
  (the transform's PIL steps); its tensor conversion and Normalize run per batch on the model's
  device (``iter_image_batches``).  Batches go to the GPU from pinned memory.
* ``tensor``: ``torchvision.io.decode_jpeg`` on the model's device (nvJPEG on CUDA, batched;
  libjpeg-turbo on CPU) and the transform as tensor operations there (``core.images.preprocess``).  Files
  are read by threads one batch ahead.  What is not a three- or one-channel JPEG (PNG, GIF, CMYK),
  and any JPEG the device fails on, is decoded by ``load_rgb`` on the CPU instead, image by image.
* ``tensor+cpu``: ``tensor``, with the reading threads decoding JPEGs on the CPU (libjpeg-turbo)
  while the device decodes and the model runs: once a batch is read they decode its images until
  it is taken, and nvJPEG gets the rest (``Staged.claim``), so the CPU's share balances itself.
  Which decoder an image gets depends on timing; both are within ``tensor``'s stated tolerance.
* ``nvimgcodec``: NVIDIA nvImageCodec (``core.images.nvimagecodec``) decodes a batch's JPEGs in one call,
  on the GPU's hardware JPEG decoders on CUDA, in the reading thread one batch ahead; the resize
  and crop are ``tensor``'s; the same fallbacks.

``auto`` is ``tensor`` when the model runs on CUDA and its transform is one ``describe`` reads,
else ``pil`` (``core.models.runner.chosen_decoder``).  ``precision`` ``bf16`` runs the forward
pass under ``torch.autocast`` (bfloat16); ``fp32`` is plain float32.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from laionet_assets.core.choices import check_choice
from laionet_assets.core.images.pixels import JPEG_MAGIC, load_rgb
from laionet_assets.core.images.preprocess import (
    Preprocessing,
    resize_crop,
    split_at_tensor,
    to_model_input,
)
from laionet_assets.core.io.storage import read_bytes

DECODERS = ("auto", "pil", "tensor", "tensor+cpu", "nvimgcodec")
PRECISIONS = ("fp32", "bf16")


def check_decoder(decoder: str) -> str:
    """``decoder`` itself, or a ValueError: not one of ``DECODERS``, or ``nvimgcodec`` where
    nvImageCodec is not installed (said when settings are read, not when the first batch is)."""
    from laionet_assets.core.images.nvimagecodec import MISSING, available

    check_choice(decoder, DECODERS, "decoder")
    if decoder == "nvimgcodec" and not available():
        raise ValueError(MISSING)
    return decoder


def precision_autocast(precision: str, device: str):
    """What a ``precision`` means for a forward pass on ``device``: ``bf16`` autocasts to bfloat16,
    ``fp32`` runs as is."""
    import torch

    if precision == "bf16":
        return torch.autocast(device.split(":")[0], dtype=torch.bfloat16)
    return nullcontext()


def decode_error(path: str, error: Exception) -> str:
    """The per-image error text of a file that does not decode (both decoders)."""
    return f"{Path(path).name}: {type(error).__name__}: {error}"[:300]


class ImageFiles:
    """A torch-style dataset of image files → (tensor, index, error); bad files give error text and
    a zero tensor of ``shape`` and ``dtype``."""

    def __init__(self, paths: Sequence[str], transform, shape: tuple[int, ...], dtype: str = "float32"):
        self.paths, self.transform, self.shape, self.dtype = list(paths), transform, shape, dtype

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        import torch

        try:
            return self.transform(load_rgb(self.paths[i])), i, ""
        except Exception as e:  # noqa: BLE001 - any decode failure is reported per image
            return (
                torch.zeros(self.shape, dtype=getattr(torch, self.dtype)),
                i,
                decode_error(self.paths[i], e),
            )


class PixelArrays:
    """PIL steps, then the image's pixels as ``uint8 [h, w, 3]`` (what a tensor conversion reads)."""

    def __init__(self, steps):
        self.steps = steps

    def __call__(self, image):
        import torch

        return torch.from_numpy(np.array(self.steps(image), dtype=np.uint8))


def _collate(batch):
    import torch

    return torch.stack([b[0] for b in batch]), [b[1] for b in batch], [b[2] for b in batch]


def decode_workers(requested: int, device: str) -> int:
    """``requested`` ≥ 0 as is; −1 (auto): none on CPU (the forward pass needs the cores), and
    when a GPU does the forward pass all cores but two, at most 12 (decoding is the bottleneck: on
    a 16-core H100 host 12 workers fed CLIP ViT-B/32 2,130 images/s, one process 149)."""
    import os

    if requested >= 0:
        return requested
    return 0 if not device.startswith("cuda") else max(1, min(12, (os.cpu_count() or 1) - 2))


def worker_context(transform):
    """The decode workers' start method: forkserver (LanceDB and CUDA runtimes in the parent do
    not survive a fork), with torch, PIL and the transform's modules imported once in the fork
    server, so each worker forks ready instead of importing them itself (on an H100 host, 12
    workers each importing torch took 60 s to deliver a first batch)."""
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    steps = getattr(transform, "transforms", [transform])
    context.set_forkserver_preload(
        sorted(
            {"torch", "torchvision.transforms", "PIL.Image", __name__, *(type(t).__module__ for t in steps)}
        )
    )
    return context


def worker_files(paths: Sequence[str], transform, shape: tuple[int, ...]):
    """(what the pil decoder's workers read, the ``Normalize`` that finishes their batches or
    ``None``): the transform's PIL steps giving ``uint8 [h, w, 3]`` pixels when it splits at its
    tensor conversion (``split_at_tensor``), else the whole transform giving ``shape``."""
    split = split_at_tensor(transform)
    if split is None:
        return ImageFiles(paths, transform, shape), None
    steps, normalize = split
    return ImageFiles(paths, PixelArrays(steps), (shape[1], shape[2], shape[0]), "uint8"), normalize


def iter_image_batches(
    paths: Sequence[str],
    transform,
    shape,
    batch_size: int,
    device: str,
    workers: int,
    memory_format: str = "contiguous_format",
):
    """(tensor on device, indices, errors) per batch, decoded in ``workers`` processes.  When the
    transform splits at its tensor conversion (``split_at_tensor``), the workers run its PIL steps
    and send ``uint8`` pixels (a quarter of the bytes), and the conversion and ``Normalize`` run
    once per batch on ``device`` (the transform's own result, bit for bit on CPU) in
    ``memory_format``; else the workers run the whole transform."""
    from torch.utils.data import DataLoader

    files, normalize = worker_files(paths, transform, shape)
    loader = DataLoader(
        files,
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=device.startswith("cuda"),
        prefetch_factor=4 if workers else None,
        persistent_workers=False,
        multiprocessing_context=worker_context(transform) if workers else None,
    )
    for tensor, indices, errors in loader:
        tensor = tensor.to(device, non_blocking=True)
        if normalize is not None:  # uint8 [n, h, w, 3] from the workers
            tensor = to_model_input(tensor.permute(0, 3, 1, 2), normalize, memory_format)
        yield tensor, indices, errors


def _as_rgb(image):
    """A decoded JPEG as ``[3, h, w]`` (grey repeated), or ``None`` for other channel counts (CMYK,
    YCCK) and failed decodes: those follow ``load_rgb``'s rules instead."""
    return image.expand(3, -1, -1) if image is not None and image.shape[0] in (1, 3) else None


def _cpu_pixels(path: str, data: bytes | None):
    """One image decoded on the CPU as ``uint8 [3, h, w]``: libjpeg-turbo for a one- or
    three-channel JPEG, else ``load_rgb``'s rules."""
    import torch

    if data is not None and data.startswith(JPEG_MAGIC):
        from torchvision.io import decode_jpeg

        try:
            image = _as_rgb(decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8)))
        except RuntimeError:
            image = None
        if image is not None:
            return image
    return torch.from_numpy(np.array(load_rgb(path))).permute(2, 0, 1)


@dataclass
class Staged:
    """One batch after the reading threads: ready cropped tensors, raw JPEGs for a batch decoder,
    errors; ``on_cpu`` decodes one image by the CPU's rules (what a batch decoder does not take).

    With CPU assist, the reading threads also decode (``assist``) the batch's JPEGs on the CPU
    until the batch decoder claims the rest (``claim``): ``decoded`` holds those images whole, to be
    resized and cropped on the model's device like the batch decoder's own (``collect``)."""

    paths: Sequence[str]
    preprocessing: Preprocessing
    indices: list[int]
    ready: dict[int, object] = field(default_factory=dict)
    jpegs: dict[int, bytes] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    decoded: dict[int, object] = field(default_factory=dict)
    assisting: list = field(default_factory=list)  # futures of ``assist``
    claimed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_cpu(self, i: int, data: bytes | None) -> None:
        try:
            self.ready[i] = resize_crop(_cpu_pixels(self.paths[i], data), self.preprocessing, "cpu")
        except Exception as e:  # noqa: BLE001 - any decode failure is reported per image
            self.errors[i] = decode_error(self.paths[i], e)

    def assist(self, i: int) -> None:
        """In a reading thread: decode JPEG ``i`` on the CPU, unless the batch decoder has claimed
        the batch (then it is the batch decoder's)."""
        with self.lock:
            data = None if self.claimed else self.jpegs.pop(i, None)
        if data is None:
            return
        try:
            self.decoded[i] = _cpu_pixels(self.paths[i], data)
        except Exception as e:  # noqa: BLE001
            self.errors[i] = decode_error(self.paths[i], e)

    def claim(self) -> None:
        """The batch decoder takes what the reading threads have not started on (``jpegs`` holds
        it from here on); the images they are decoding still come (``collect``)."""
        with self.lock:
            self.claimed = True

    def collect(self, device: str) -> None:
        """After ``claim``: the images the reading threads decoded, resized and cropped on
        ``device`` (waiting for those they are still decoding; the rest return at once)."""
        wait(self.assisting)
        for i, image in self.decoded.items():
            self.crop(i, image, device)
        self.decoded.clear()

    def crop(self, i: int, image, device: str) -> None:
        """Image ``i``'s decoded ``uint8 [3, h, w]`` pixels resized and cropped on ``device`` into
        ``ready``; a failure is its error."""
        try:
            self.ready[i] = resize_crop(image, self.preprocessing, device)
        except Exception as e:  # noqa: BLE001 - reported per image
            self.errors[i] = decode_error(self.paths[i], e)


class NvJpeg:
    """The ``tensor`` decoder's batch decode: ``torchvision.io.decode_jpeg`` of a batch's JPEGs on
    the model's CUDA device in one call, resized and cropped there (on CPU every image is decoded
    by the reading threads instead).  Runs in the main thread: torchvision serialises device
    decodes, and one in the reading thread was slower (below)."""

    in_reader = False

    def __init__(self, preprocessing: Preprocessing, device: str):
        self.preprocessing, self.device = preprocessing, device

    def takes(self, data: bytes) -> bool:
        return self.device.startswith("cuda") and data.startswith(JPEG_MAGIC)

    def decode(self, staged: Staged) -> None:
        import torch
        from torchvision.io import ImageReadMode, decode_jpeg

        keys = list(staged.jpegs)
        raw = [torch.frombuffer(bytearray(staged.jpegs[i]), dtype=torch.uint8) for i in keys]
        try:
            decoded = decode_jpeg(raw, mode=ImageReadMode.UNCHANGED, device=self.device)
        except RuntimeError:  # one bad JPEG fails the whole call: decode them one by one
            decoded = []
            for tensor in raw:
                try:
                    decoded.append(decode_jpeg(tensor, mode=ImageReadMode.UNCHANGED, device=self.device))
                except RuntimeError:
                    decoded.append(None)
        for i, image in zip(keys, map(_as_rgb, decoded)):
            if image is None:  # CMYK, or nvJPEG failed: the CPU's rules
                staged.on_cpu(i, staged.jpegs[i])
            else:
                staged.crop(i, image, self.device)
        staged.jpegs.clear()


def iter_staged_batches(
    paths: Sequence[str],
    preprocessing: Preprocessing,
    batch_size: int,
    device: str,
    workers: int,
    decoder,
    memory_format: str = "contiguous_format",
    cpu_assist: bool = False,
) -> Iterator[tuple[object, list[int], list[str]]]:
    """(normalised tensor on ``device`` in ``memory_format``, indices, errors) per batch.
    ``workers`` threads read a batch's files one batch ahead; what ``decoder.takes`` goes to
    ``decoder.decode`` as one batch (in the reading thread when ``decoder.in_reader``, else here),
    the rest is decoded on the CPU by the reading threads.  With ``cpu_assist`` (a decoder that
    runs here), the reading threads, once a batch is read, go on decoding its JPEGs on the CPU
    until this thread takes the batch; the batch decoder gets the rest (``Staged.claim``), so the
    CPU's share adjusts itself to how long the device's decode and the model take."""
    import torch

    def stage_one(i: int, staged: Staged) -> None:
        try:
            data = read_bytes(paths[i])
        except Exception as e:  # noqa: BLE001 - any read failure is reported per image
            staged.errors[i] = decode_error(paths[i], e)
            return
        if decoder.takes(data):
            staged.jpegs[i] = data
        else:
            staged.on_cpu(i, data)

    def stage(indices: list[int]) -> Staged:
        """Read a batch's files, decoding on the CPU what the batch decoder does not take."""
        staged = Staged(paths, preprocessing, indices)
        list(pool.map(lambda i: stage_one(i, staged), indices))
        if decoder.in_reader and staged.jpegs:
            decoder.decode(staged)
        elif cpu_assist:
            staged.assisting = [pool.submit(staged.assist, i) for i in list(staged.jpegs)]
        return staged

    blank = torch.zeros((3, preprocessing.crop, preprocessing.crop), dtype=torch.uint8)
    normalize = preprocessing.normalize()
    batches = [list(range(s, min(s + batch_size, len(paths)))) for s in range(0, len(paths), batch_size)]
    with ThreadPoolExecutor(max(1, workers)) as pool, ThreadPoolExecutor(1) as reader:
        # The reader stages batch k + 1 (reads, CPU decodes) while batch k is decoded on the device
        # and the model runs.  (On an H100 host with CLIP ViT-B/32 in bf16 and the ``tensor``
        # decoder: 3,585 images/s so; 2,771 with nvJPEG in the reader thread; 1,491 with one device
        # decode per reading thread, which torchvision serialises.)
        ahead = reader.submit(stage, batches[0]) if batches else None
        for k in range(len(batches)):
            staged = ahead.result()
            ahead = reader.submit(stage, batches[k + 1]) if k + 1 < len(batches) else None
            staged.claim()
            if staged.jpegs:
                decoder.decode(staged)
            staged.collect(device)  # after the device's decode: what the CPU had begun ends meanwhile
            cropped = [staged.ready.get(i, blank).to(device, non_blocking=True) for i in staged.indices]
            batch = to_model_input(torch.stack(cropped), normalize, memory_format)
            yield batch, staged.indices, [staged.errors.get(i, "") for i in staged.indices]


def iter_tensor_batches(
    paths: Sequence[str],
    preprocessing: Preprocessing,
    batch_size: int,
    device: str,
    workers: int,
    memory_format: str = "contiguous_format",
    cpu_assist: bool = False,
) -> Iterator[tuple[object, list[int], list[str]]]:
    """The ``tensor`` decoder's batches: ``torchvision.io`` on ``device`` (nvJPEG on CUDA); with
    ``cpu_assist`` (``tensor+cpu``) the reading threads' libjpeg-turbo decodes a share of them."""
    decoder = NvJpeg(preprocessing, device)
    return iter_staged_batches(
        paths, preprocessing, batch_size, device, workers, decoder, memory_format, cpu_assist
    )


def iter_nvimgcodec_batches(
    paths: Sequence[str],
    preprocessing: Preprocessing,
    batch_size: int,
    device: str,
    workers: int,
    memory_format: str = "contiguous_format",
) -> Iterator[tuple[object, list[int], list[str]]]:
    """The ``nvimgcodec`` decoder's batches: nvImageCodec (``core.images.nvimagecodec``) on ``device``."""
    from laionet_assets.core.images.nvimagecodec import NvImageCodec

    codec = NvImageCodec(preprocessing, device, max(1, workers))
    return iter_staged_batches(paths, preprocessing, batch_size, device, workers, codec, memory_format)


# The decoders whose batches ``iter_staged_batches`` makes (``pil`` is the DataLoader's).
STAGED_DECODERS = {
    "tensor": iter_tensor_batches,
    "tensor+cpu": partial(iter_tensor_batches, cpu_assist=True),
    "nvimgcodec": iter_nvimgcodec_batches,
}
