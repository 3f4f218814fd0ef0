"""Resize at download: the effect on top-1 of storing images with their shorter side
cut to N pixels (``--download-resize N``: Lanczos, JPEG quality 95, as img2dataset does) before a
model's own preprocessing, against the original bytes (the paper's choice, the default).

The real float MobileNetV2 of ``benchmarks.real_models`` on the 100 real ImageNet images of
../shared, each stored through ``core.images.download.finish`` with and without the resize, then
classified from the stored file. Also the stored bytes. N = 512 (img2dataset's usual size) and
smaller sides that do cut these ~500×375 images.

    python -m benchmarks.bench_download_resize
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.real_models import SHARED, float_mobilenet_v2_torchscript

SIDES = (0, 512, 320, 256)  # 0: the original bytes


def main() -> dict:
    from laionet_assets.core.images.download import DownloadSettings, Fetched, finish
    from laionet_assets.core.models.classifiers import make_classifier, top_k_wnids
    from laionet_assets.core.models.specs import parse_model_spec

    images = sorted((SHARED / "data" / "imagenet_sample").glob("*.JPEG"))
    if not images:
        print(json.dumps({"skipped": f"no images under {SHARED}"}))
        return {}
    truth = [p.name.split("_")[0] for p in images]
    words = SHARED / "models" / "mobilenet_v2_words.txt"
    from timm.data import ImageNetInfo  # the wnids in class order

    wnids = ImageNetInfo().label_names()
    results: dict = {"images": len(images), "shorter_sides_of_the_originals": {}}
    with tempfile.TemporaryDirectory() as folder:
        scripted = float_mobilenet_v2_torchscript(SHARED / "models" / "mobilenet_v2_quantized.pt", folder)
        model = make_classifier(parse_model_spec(f"torchscript:{scripted}:{words}"), wnids, [], "cpu", 32)
        for side in SIDES:
            store = Path(folder) / f"store_{side}"
            settings = DownloadSettings(resize_shorter=side)
            rows = [
                finish(p.name, str(p), Fetched("ok", 200, p.read_bytes()), store, settings) for p in images
            ]
            if side == 0:
                sides = np.array([min(r["width"], r["height"]) for r in rows])
                results["shorter_sides_of_the_originals"] = {
                    "min": int(sides.min()),
                    "median": int(np.median(sides)),
                    "max": int(sides.max()),
                }
            paths = [str(store / r["image_path"]) for r in rows]
            logits, errors = model.run(paths, workers=0)
            assert not any(errors), errors
            top = top_k_wnids(logits, model.class_wnids)
            results[f"shorter_side_{side or 'original'}"] = {
                "top1": round(float(np.mean([t[0] == y for t, y in zip(top, truth)])), 3),
                "top5": round(float(np.mean([y in t for t, y in zip(top, truth)])), 3),
                "images_resized": sum(min(r["width"], r["height"]) > side for r in rows) if side else 0,
                "stored_mb": round(sum(Path(p).stat().st_size for p in paths) / 2**20, 2),
            }
    print(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
