"""A real float ImageNet classifier, offline: the shared quantized MobileNetV2 with its int8
weights dequantized into torchvision's fused float MobileNetV2 (the architecture it was quantized
from: conv–BN folded, ReLU in place of ReLU6).  It runs on any device and precision, so the
precision's and the decoder's effect on top-1 can be measured on the 100 real ImageNet images
without a hub.  On those images it agrees with the quantized model on 97 of 100 top-1 labels.

    path = float_mobilenet_v2_torchscript(shared / "models/mobilenet_v2_quantized.pt", folder)
    spec = f"torchscript:{path}:{shared}/models/mobilenet_v2_words.txt"
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def float_mobilenet_v2(quantized: str | Path):
    """The float ``torch.nn.Module`` behind the quantized TorchScript MobileNetV2 at ``quantized``."""
    import torch
    from torchvision.models.quantization import mobilenet_v2

    torch.backends.quantized.engine = "qnnpack"
    scripted = torch.jit.load(str(quantized), map_location="cpu")
    model = mobilenet_v2(weights=None, quantize=False).eval()
    model.fuse_model()
    names = model.state_dict()
    weights = {}
    # Each quantized conv's packed parameters are hoisted to an attribute named after its module.
    for attribute in re.findall(r'getattr\(self, "([^"]+)"\)', str(scripted.code)):
        module = attribute.split(".", 1)[1].rsplit("._packed_params", 1)[0]
        module = f"{module}.0" if f"{module}.0.weight" in names else module  # ConvReLU2d wraps its conv
        weight, bias = torch.ops.quantized.conv2d_unpack(scripted._c.getattr(attribute))
        weights[f"{module}.weight"], weights[f"{module}.bias"] = weight.dequantize(), bias
    linear = getattr(scripted.classifier, "1")._packed_params._packed_params
    weight, bias = torch.ops.quantized.linear_unpack(linear)
    weights["classifier.1.weight"], weights["classifier.1.bias"] = weight.dequantize(), bias
    missing = set(names) - set(weights)
    if missing:
        raise ValueError(f"{quantized}: no weights for {sorted(missing)[:3]}…")
    model.load_state_dict(weights)
    return model


def float_mobilenet_v2_torchscript(quantized: str | Path, folder: str | Path) -> Path:
    """``float_mobilenet_v2`` saved as TorchScript in ``folder`` (a ``torchscript:`` model spec)."""
    import torch

    path = Path(folder) / "mobilenet_v2_float.pt"
    torch.jit.save(torch.jit.script(float_mobilenet_v2(quantized)), str(path))
    return path
