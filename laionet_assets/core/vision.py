"""Image models: ImageNet classifiers (DESIGN step 6) and CLIP image embeddings (step 7).

Model sources, written as one string each (``parse_model_spec``) so a list fits in an
environment variable, a CLI flag or the launchpad:

* ``timm:<architecture>``: timm with ``pretrained=True`` (timm downloads the weights);
* ``timm:<architecture>:random``: the same architecture with random weights (tests, demos);
* ``timm:<architecture>:<checkpoint file>``: a local state dict (``.pth``, ``.pt``, ``.safetensors``);
* ``torchscript:<model file>[:<class order file>]``: a TorchScript classifier whose 1000 outputs
  follow the class order file (one wnid per line, or 1000 class names in the standard ImageNet
  order; default the standard order).  Preprocessing: resize 256, centre crop 224, ImageNet
  mean/std.  Quantized models run on the ``qnnpack`` engine with batch size 1;
* ``clip:<architecture>[:<pretrained tag or checkpoint file>]``: CLIP zero-shot, the image against
  all 1000 synset texts; ``clip:tiny`` is a random-init tiny CLIP.

Each model uses its own preprocessing (timm's data config; open_clip's transform).  Images are
decoded by ``load_rgb`` in DataLoader workers, so decoding overlaps the forward pass; batches go
to the GPU from pinned memory when CUDA is available.  Images that fail to decode are reported
with their error, never fatal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from laionet_assets.core.images import load_rgb
from laionet_assets.core.textsim import _file_fingerprint, resolve_device, tiny_clip

SOURCES = ("timm", "torchscript", "clip")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WNID = re.compile(r"^n\d{8}$")


class LabelSpaceError(ValueError):
    """A model whose outputs are not the 1000 ImageNet-1k classes."""


@dataclass(frozen=True)
class ModelSpec:
    source: str
    model: str
    weights: str | None = None  # timm: None (hub), "random" or a file; clip: a tag or a file
    classes: str | None = None  # torchscript: the class order file

    @property
    def name(self) -> str:
        if self.source == "torchscript":
            return f"torchscript:{Path(self.model).stem}"
        return f"{self.source}:{self.model}" + (f":{Path(self.weights).name}" if self.weights else "")


def parse_model_spec(text: str) -> ModelSpec:
    source, _, rest = text.strip().partition(":")
    if source not in SOURCES or not rest:
        raise ValueError(f"model {text!r}: expected '<source>:<model>[:<weights>]' with source one of {SOURCES}")
    model, _, extra = rest.partition(":")
    extra = extra or None
    if source == "torchscript":
        if not Path(model).expanduser().is_file():
            raise ValueError(f"model {text!r}: TorchScript file {model!r} does not exist")
        if extra and not Path(extra).expanduser().is_file():
            raise ValueError(f"model {text!r}: class order file {extra!r} does not exist")
        return ModelSpec(source, model, classes=extra)
    if extra and extra != "random" and ("/" in extra or extra.endswith((".pt", ".pth", ".bin", ".safetensors"))):
        if not Path(extra).expanduser().is_file():
            raise ValueError(f"model {text!r}: checkpoint file {extra!r} does not exist")
    if source == "timm":
        import timm

        if model not in timm.list_models():
            raise ValueError(f"model {text!r}: timm has no architecture {model!r}")
    if source == "clip" and model != "tiny":
        import open_clip

        if model not in open_clip.list_models():
            raise ValueError(f"model {text!r}: open_clip has no architecture {model!r}")
    return ModelSpec(source, model, extra)


def parse_model_list(text: str | Sequence[str]) -> list[ModelSpec]:
    items = text.split(",") if isinstance(text, str) else list(text)
    specs = [parse_model_spec(t) for t in items if t.strip()]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"model list names a model twice: {names}")
    return specs


def read_class_order(path: str | None, imagenet_wnids: Sequence[str]) -> list[str]:
    """The wnid of each output of a model: a file of wnids, or of 1000 names in standard order."""
    if path is None:
        return list(imagenet_wnids)
    lines = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    if lines and all(WNID.match(line.split()[0]) for line in lines):
        wnids = [line.split()[0] for line in lines]
        unknown = sorted(set(wnids) - set(imagenet_wnids))
        if unknown or len(wnids) != 1000:
            raise LabelSpaceError(f"{path}: {len(wnids)} classes, {len(unknown)} not in ImageNet-1k (e.g. {unknown[:3]})")
        return wnids
    if len(lines) != 1000:
        raise LabelSpaceError(f"{path}: {len(lines)} class names; an ImageNet-1k class order has 1000")
    return list(imagenet_wnids)


# ---------------------------------------------------------------------------- decoding


class ImageFiles:
    """A torch-style dataset of image files → (tensor, index, error); bad files give error text."""

    def __init__(self, paths: Sequence[str], transform, shape: tuple[int, ...]):
        self.paths, self.transform, self.shape = list(paths), transform, shape

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        import torch

        try:
            return self.transform(load_rgb(self.paths[i])), i, ""
        except Exception as e:  # noqa: BLE001 - any decode failure is reported per image
            return torch.zeros(self.shape), i, f"{Path(self.paths[i]).name}: {type(e).__name__}: {e}"[:300]


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
    context.set_forkserver_preload(sorted({"torch", "torchvision.transforms", "PIL.Image", __name__,
                                           *(type(t).__module__ for t in steps)}))
    return context


def iter_image_batches(paths: Sequence[str], transform, shape, batch_size: int, device: str, workers: int):
    """(tensor on device, indices, errors) per batch, decoded in ``workers`` processes."""
    from torch.utils.data import DataLoader

    loader = DataLoader(ImageFiles(paths, transform, shape), batch_size=batch_size, num_workers=workers,
                        collate_fn=_collate, pin_memory=device.startswith("cuda"),
                        prefetch_factor=4 if workers else None, persistent_workers=False,
                        multiprocessing_context=worker_context(transform) if workers else None)
    for tensor, indices, errors in loader:
        yield tensor.to(device, non_blocking=True), indices, errors


# ---------------------------------------------------------------------------- models


class ImageModel:
    """Common loop: decode, forward, collect outputs per image, count failures."""

    name: str
    version: str
    device: str
    batch_size: int
    transform = None
    input_shape: tuple[int, ...] = (3, 224, 224)

    def forward(self, batch):  # pragma: no cover - interface
        raise NotImplementedError

    def run(self, paths: Sequence[str], workers: int = -1, progress: Callable[[int], None] | None = None):
        """(outputs [n, k] float32 with NaN rows for failures, errors per image or "")."""
        import torch

        outputs: np.ndarray | None = None
        errors = [""] * len(paths)
        with torch.inference_mode():
            for tensor, indices, batch_errors in iter_image_batches(paths, self.transform, self.input_shape, self.batch_size,
                                                                    self.device, decode_workers(workers, self.device)):
                out = self.forward(tensor).float().cpu().numpy()
                if outputs is None:
                    outputs = np.full((len(paths), out.shape[1]), np.nan, dtype=np.float32)
                outputs[indices] = out
                for i, err in zip(indices, batch_errors):
                    if err:
                        errors[i] = err
                        outputs[i] = np.nan
                if progress is not None:
                    progress(len(indices))
        if outputs is None:
            outputs = np.zeros((0, 0), dtype=np.float32)
        return outputs, errors


class Classifier(ImageModel):
    class_wnids: list[str]


class TimmClassifier(Classifier):
    def __init__(self, spec: ModelSpec, imagenet_wnids: Sequence[str], device: str = "auto", batch_size: int = 64):
        import timm
        from timm.data import create_transform, resolve_data_config

        self.name, self.device, self.batch_size = spec.name, resolve_device(device), batch_size
        if spec.weights in (None, "random"):
            self.model = timm.create_model(spec.model, pretrained=spec.weights is None)
            source = "random" if spec.weights else "timm-pretrained"
        else:
            self.model = timm.create_model(spec.model, pretrained=False, checkpoint_path=spec.weights)
            source = f"{Path(spec.weights).name}@{_file_fingerprint(Path(spec.weights))}"
        if self.model.num_classes != 1000:
            raise LabelSpaceError(f"{spec.name}: {self.model.num_classes} outputs; an ImageNet-1k classifier has 1000")
        self.model = self.model.eval().to(self.device)
        config = resolve_data_config({}, model=self.model)
        self.transform = create_transform(**config)
        self.input_shape = tuple(config["input_size"])
        self.class_wnids = list(imagenet_wnids)
        self.version = f"timm {timm.__version__} {spec.model} ({source})"

    def forward(self, batch):
        return self.model(batch)


def torchscript_transform(resize: int = 256, crop: int = 224, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    from torchvision import transforms

    return transforms.Compose([transforms.Resize(resize), transforms.CenterCrop(crop), transforms.ToTensor(),
                               transforms.Normalize(mean, std)])


class TorchScriptClassifier(Classifier):
    def __init__(self, spec: ModelSpec, imagenet_wnids: Sequence[str], device: str = "auto", batch_size: int = 64,
                 resize: int = 256, crop: int = 224):
        import torch

        self.name = spec.name
        self.model = torch.jit.load(spec.model, map_location="cpu").eval()
        self.quantized = any("quantized" in str(n.kind()) for n in self.model.inlined_graph.nodes())
        if self.quantized:
            # Quantized kernels exist for CPU only; this model family needs qnnpack and batch size 1.
            # Weights are prepacked for the engine active at load time: set it, then load again.
            torch.backends.quantized.engine = "qnnpack"
            self.model = torch.jit.load(spec.model, map_location="cpu").eval()
            self.device, self.batch_size = "cpu", 1
        else:
            self.device, self.batch_size = resolve_device(device), batch_size
            self.model = self.model.to(self.device)
        self.class_wnids = read_class_order(spec.classes, imagenet_wnids)
        self.transform = torchscript_transform(resize, crop)
        self.input_shape = (3, crop, crop)
        self.version = f"torchscript {Path(spec.model).name}@{_file_fingerprint(Path(spec.model))}" + (
            " (quantized, qnnpack)" if self.quantized else "")

    def forward(self, batch):
        out = self.model(batch)
        if out.shape[-1] != len(self.class_wnids):
            raise LabelSpaceError(f"{self.name}: {out.shape[-1]} outputs for {len(self.class_wnids)} classes")
        return out


class ClipModel(ImageModel):
    """open_clip image tower: embeddings, and zero-shot logits against the synset texts."""

    def __init__(self, model: str = "ViT-B-32", pretrained: str | None = "openai", device: str = "auto",
                 batch_size: int = 64, seed: int = 0):
        import open_clip

        self.device, self.batch_size = resolve_device(device), batch_size
        if model == "tiny":
            self.model = tiny_clip(seed)
            source = f"random-seed{seed}"
            config = dict(image_size=32, mean=open_clip.OPENAI_DATASET_MEAN, std=open_clip.OPENAI_DATASET_STD)
            self.transform = open_clip.image_transform(config["image_size"], is_train=False,
                                                       mean=config["mean"], std=config["std"])
            self.input_shape = (3, 32, 32)
        else:
            self.model, _, self.transform = open_clip.create_model_and_transforms(model, pretrained=pretrained or None)
            size = self.model.visual.image_size
            size = size if isinstance(size, int) else size[0]
            self.input_shape = (3, size, size)
            source = (f"{Path(pretrained).name}@{_file_fingerprint(Path(pretrained))}" if pretrained and Path(pretrained).is_file()
                      else pretrained or f"random-seed{seed}")
        self.model = self.model.eval().to(self.device)
        self.tokenizer = open_clip.get_tokenizer("ViT-B-32" if model == "tiny" else model)
        self.encoder_id = f"open_clip:{model}:{source}"
        self.name = self.encoder_id
        self.dim = int(self.model.text_projection.shape[-1])
        self.version = f"open_clip {open_clip.__version__} {model} ({source})"
        self.text_features = None

    def forward(self, batch):
        features = self.model.encode_image(batch, normalize=True)
        if self.text_features is None:
            return features
        return 100.0 * features @ self.text_features.T

    def encode_texts(self, texts: Sequence[str], batch_size: int = 256):
        import torch

        chunks = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                tokens = self.tokenizer(list(texts[start : start + batch_size])).to(self.device)
                chunks.append(self.model.encode_text(tokens, normalize=True))
        return torch.cat(chunks)


class ClipZeroShotClassifier(Classifier):
    def __init__(self, spec: ModelSpec, imagenet_wnids: Sequence[str], synset_texts: Sequence[str], device: str = "auto",
                 batch_size: int = 64):
        self.clip = ClipModel(spec.model, spec.weights, device, batch_size)
        self.clip.text_features = self.clip.encode_texts(synset_texts)
        self.name, self.device, self.batch_size = spec.name, self.clip.device, batch_size
        self.transform, self.input_shape = self.clip.transform, self.clip.input_shape
        self.class_wnids = list(imagenet_wnids)
        self.version = self.clip.version + " zero-shot over the 1000 synset texts"

    def forward(self, batch):
        return self.clip.forward(batch)


def make_classifier(spec: ModelSpec, imagenet_wnids: Sequence[str], synset_texts: Sequence[str], device: str = "auto",
                    batch_size: int = 64) -> Classifier:
    if spec.source == "timm":
        return TimmClassifier(spec, imagenet_wnids, device, batch_size)
    if spec.source == "torchscript":
        return TorchScriptClassifier(spec, imagenet_wnids, device, batch_size)
    return ClipZeroShotClassifier(spec, imagenet_wnids, synset_texts, device, batch_size)


def top_k_wnids(logits: np.ndarray, class_wnids: Sequence[str], k: int = 5) -> list[list[str] | None]:
    """The k highest-scoring wnids per row, best first; None for failed (NaN) rows."""
    if logits.size == 0:
        return [None] * logits.shape[0]
    k = min(k, logits.shape[1])
    order = np.argsort(-np.nan_to_num(logits, nan=-np.inf), axis=1, kind="stable")[:, :k]
    names = np.asarray(class_wnids, dtype=object)[order]
    failed = np.isnan(logits).any(axis=1)
    return [None if bad else list(row) for row, bad in zip(names, failed)]
