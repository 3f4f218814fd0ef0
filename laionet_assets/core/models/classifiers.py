"""ImageNet classifiers (paper §3.1): timm, TorchScript and CLIP zero-shot, each with its own
preprocessing (timm's data config; resize 256, centre crop 224 and ImageNet mean/std for
TorchScript; open_clip's transform).  Quantized TorchScript models run on the ``qnnpack`` engine
with batch size 1.  Outputs are logits over the model's class order (``class_wnids``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from laionet_assets.core.models.clip import Clip
from laionet_assets.core.models.loading import file_fingerprint, resolve_device
from laionet_assets.core.models.runner import ImageModel
from laionet_assets.core.models.specs import LabelSpaceError, ModelSpec, read_class_order

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Classifier(ImageModel):
    class_wnids: list[str]


class TimmClassifier(Classifier):
    """A timm model; its weights and every batch in channels-last order (NHWC), which oneDNN and
    cuDNN convolutions run without reordering each layer: 1.3–1.5× the images/s of NCHW for
    ResNet-18 and EfficientNet-B0 on 2 CPU cores (``benchmarks/bench_memory_format``), the same
    for a ViT, and logits equal to NCHW's within 1e-6 of their scale.  A decode group of timm
    models gets its batches in that layout already (``models.runner.group_memory_format``)."""

    memory_format = "channels_last"

    def __init__(
        self, spec: ModelSpec, imagenet_wnids: Sequence[str], device: str = "auto", batch_size: int = 64
    ):
        import timm
        import torch
        from timm.data import create_transform, resolve_data_config

        self.name, self.device, self.batch_size = spec.name, resolve_device(device), batch_size
        if spec.weights in (None, "random"):
            with torch.random.fork_rng():  # random weights are seeded: a demo's numbers repeat
                torch.manual_seed(0)
                self.model = timm.create_model(spec.model, pretrained=spec.weights is None)
            source = "random-seed0" if spec.weights else "timm-pretrained"
        else:
            self.model = timm.create_model(spec.model, pretrained=False, checkpoint_path=spec.weights)
            source = file_fingerprint(spec.weights)
        if self.model.num_classes != 1000:
            raise LabelSpaceError(
                f"{spec.name}: {self.model.num_classes} outputs; an ImageNet-1k classifier has 1000"
            )
        self.model = self.model.eval().to(self.device, memory_format=torch.channels_last)
        config = resolve_data_config({}, model=self.model)
        self.transform = create_transform(**config)
        self.input_shape = tuple(config["input_size"])
        self.class_wnids = list(imagenet_wnids)
        self.version = f"timm {timm.__version__} {spec.model} ({source})"

    def forward(self, batch):
        import torch

        return self.model(batch.contiguous(memory_format=torch.channels_last))


def torchscript_transform(resize: int = 256, crop: int = 224, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    from torchvision import transforms

    return transforms.Compose(
        [
            transforms.Resize(resize),
            transforms.CenterCrop(crop),
            transforms.ToTensor(),
            transforms.Normalize(mean, std),
        ]
    )


class TorchScriptClassifier(Classifier):
    def __init__(
        self,
        spec: ModelSpec,
        imagenet_wnids: Sequence[str],
        device: str = "auto",
        batch_size: int = 64,
        resize: int = 256,
        crop: int = 224,
    ):
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
        self.version = f"torchscript {file_fingerprint(spec.model)}" + (
            " (quantized, qnnpack)" if self.quantized else ""
        )

    def configure(self, precision: str = "fp32", decoder: str = "auto") -> TorchScriptClassifier:
        # Quantized kernels compute in int8 whatever the autocast: bf16 would only mislabel them.
        return super().configure("fp32" if self.quantized else precision, decoder)

    def forward(self, batch):
        out = self.model(batch)
        if out.shape[-1] != len(self.class_wnids):
            raise LabelSpaceError(f"{self.name}: {out.shape[-1]} outputs for {len(self.class_wnids)} classes")
        return out


class ClipZeroShotClassifier(Classifier):
    """CLIP zero-shot: 100 × cosine of the image embedding and each synset text's embedding."""

    def __init__(
        self,
        spec: ModelSpec,
        imagenet_wnids: Sequence[str],
        synset_texts: Sequence[str],
        device: str = "auto",
        batch_size: int = 64,
    ):
        import torch

        self.clip = Clip(spec.model, spec.weights, device, batch_size)
        self.text_features = torch.from_numpy(self.clip.encode(synset_texts)).to(self.clip.device)
        self.name, self.device, self.batch_size = spec.name, self.clip.device, batch_size
        self.transform, self.input_shape = self.clip.transform, self.clip.input_shape
        self.class_wnids = list(imagenet_wnids)
        self.version = self.clip.version + " zero-shot over the 1000 synset texts"

    def forward(self, batch):
        return 100.0 * self.clip.encode_image_batch(batch) @ self.text_features.T


def make_classifier(
    spec: ModelSpec,
    imagenet_wnids: Sequence[str],
    synset_texts: Sequence[str],
    device: str = "auto",
    batch_size: int = 64,
    precision: str = "fp32",
    decoder: str = "auto",
) -> Classifier:
    if spec.source == "timm":
        model = TimmClassifier(spec, imagenet_wnids, device, batch_size)
    elif spec.source == "torchscript":
        model = TorchScriptClassifier(spec, imagenet_wnids, device, batch_size)
    else:
        model = ClipZeroShotClassifier(spec, imagenet_wnids, synset_texts, device, batch_size)
    return model.configure(precision, decoder)


def top_k_wnids(logits: np.ndarray, class_wnids: Sequence[str], k: int = 5) -> list[list[str] | None]:
    """The k highest-scoring wnids per row, best first; None for failed (NaN) rows."""
    if logits.size == 0:
        return [None] * logits.shape[0]
    k = min(k, logits.shape[1])
    order = np.argsort(-np.nan_to_num(logits, nan=-np.inf), axis=1, kind="stable")[:, :k]
    names = np.asarray(class_wnids, dtype=object)[order]
    failed = np.isnan(logits).any(axis=1)
    return [None if bad else list(row) for row, bad in zip(names, failed)]
