"""Decoding once for models that share a preprocessing, the tensor decoder against PIL, precision."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from laionet_assets.core.images.decoders import (
    STAGED_DECODERS,
    iter_image_batches,
    iter_nvimgcodec_batches,
    iter_tensor_batches,
)
from laionet_assets.core.images.nvimagecodec import available as nvimgcodec_available
from laionet_assets.core.images.preprocess import Preprocessing, describe
from laionet_assets.core.models.classifiers import make_classifier, top_k_wnids, torchscript_transform
from laionet_assets.core.models.clip import ClipImageEncoder
from laionet_assets.core.models.runner import (
    ImageModel,
    chosen_decoder,
    decode_groups,
    group_memory_format,
    run_models,
)
from laionet_assets.core.models.specs import LabelSpaceError, parse_model_spec
from laionet_assets.testing.fixtures import shared_path

needs_nvimgcodec = pytest.mark.skipif(
    not nvimgcodec_available(), reason="NVIDIA nvImageCodec (the nvimgcodec extra) is not installed"
)
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
# Four timm architectures with one preprocessing: resize 256 bicubic, crop 224, ImageNet mean/std.
SHARED_PREPROCESSING = [
    "mobilenetv3_small_050",
    "mobilenetv3_small_075",
    "mobilenetv3_small_100",
    "lcnet_050",
]


@pytest.fixture(scope="module")
def real_images():
    paths = sorted(shared_path("data", "imagenet_sample").glob("*.JPEG"))
    return [str(p) for p in paths], [p.name.split("_")[0] for p in paths]


@pytest.fixture(scope="module")
def odd_images(tmp_path_factory):
    """Files the tensor decoder hands to load_rgb (PNG with alpha, CMYK JPEG, palette GIF), a grey
    JPEG it decodes itself, and a corrupt file; with an ordinary JPEG first."""
    folder = tmp_path_factory.mktemp("odd")
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)
    files = {
        "rgb.jpg": Image.fromarray(pixels),
        "grey.jpg": Image.fromarray(pixels[..., 0]),
        "cmyk.jpg": Image.fromarray(pixels).convert("CMYK"),
        "alpha.png": Image.fromarray(np.dstack([pixels, pixels[..., :1]])),
        "palette.gif": Image.fromarray(pixels).convert("P"),
    }
    paths = []
    for name, image in files.items():
        image.save(folder / name)
        paths.append(str(folder / name))
    (folder / "corrupt.jpg").write_bytes(Path(paths[0]).read_bytes()[:200])
    return [*paths, str(folder / "corrupt.jpg")]


def _grey_levels(a, b, preprocessing: Preprocessing):
    """|a − b| in 0–255 grey levels, per element, for two normalised batches."""
    return ((a - b) * torch.tensor(preprocessing.std).view(1, 3, 1, 1) * 255).abs()


def _batches(iterator, memory_format: str = "contiguous_format"):
    """All batches as one tensor, and the errors; every batch laid out in ``memory_format``."""
    tensors, errors = [], []
    for tensor, _, batch_errors in iterator:
        assert tensor.is_contiguous(memory_format=getattr(torch, memory_format))
        tensors.append(tensor)
        errors += batch_errors
    return torch.cat(tensors), errors


def test_describe_reads_each_model_familys_transform():
    import open_clip
    import timm
    from timm.data import create_transform, resolve_data_config
    from torchvision import transforms

    resnet = timm.create_model("resnet50", pretrained=False)
    assert describe(create_transform(**resolve_data_config({}, model=resnet))) == Preprocessing(
        235, 224, "bicubic", *IMAGENET
    )
    assert describe(torchscript_transform()) == Preprocessing(256, 224, "bilinear", *IMAGENET)
    clip = open_clip.image_transform(224, is_train=False)
    mean, std = open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD
    assert describe(clip) == Preprocessing(224, 224, "bicubic", mean, std)
    assert describe(clip) != Preprocessing(224, 224, "bicubic", tuple(round(v, 6) for v in mean), std)
    # Anything but resize-shorter-side → centre crop → tensor → normalise is not described.
    normalise = transforms.Normalize(*IMAGENET)
    for other in (
        transforms.Compose([transforms.Resize((224, 300)), transforms.ToTensor(), normalise]),
        transforms.Compose([transforms.Resize(256), transforms.RandomCrop(224), transforms.ToTensor()]),
        transforms.Compose([transforms.CenterCrop(224), transforms.Resize(256), normalise]),
        transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor()]),
        lambda image: image,
    ):
        assert describe(other) is None


def test_pil_workers_send_pixels_and_the_batch_is_each_images_own_transform(
    real_images, odd_images, monkeypatch
):
    """The pil decoder's workers run a transform's PIL steps and send uint8 pixels; the tensor
    conversion and Normalize run once per batch.  The slow obvious way: each model family's
    transform applied to one image at a time.  Equal bit for bit, with workers and without, in
    either layout the batch is asked for; a transform that does not split (a step after
    Normalize) runs whole in the workers."""
    import timm
    from timm.data import create_transform, resolve_data_config
    from torchvision import transforms

    from laionet_assets.core.images import decoders as decoding
    from laionet_assets.core.images.pixels import load_rgb
    from laionet_assets.core.images.preprocess import split_at_tensor

    sent = []  # what each batch's items hold, recorded where they are collated (workers=0)
    collate = decoding._collate

    def recording(batch):
        sent.append(batch[0][0].dtype)
        return collate(batch)

    timm_transform = create_transform(**resolve_data_config({}, model=timm.create_model("lcnet_050")))
    paths = real_images[0][:10] + odd_images
    for transform in (timm_transform, open_clip_transform(), torchscript_transform(64, 56)):
        shape = (3, transform.transforms[1].size[0], transform.transforms[1].size[0])
        assert split_at_tensor(transform) is not None
        expected = torch.stack([transform(load_rgb(p)) for p in paths[:15]])
        for workers, layout in ((0, "contiguous_format"), (2, "contiguous_format"), (0, "channels_last")):
            with monkeypatch.context() as patch:
                if not workers:
                    patch.setattr(decoding, "_collate", recording)
                batches = iter_image_batches(paths, transform, shape, 4, "cpu", workers, layout)
                batch, errors = _batches(batches, layout)
            assert [bool(e) for e in errors] == [False] * 15 + [True]
            assert batch.dtype == torch.float32 and torch.equal(batch[:15], expected)
    assert set(sent) == {torch.uint8}
    whole = transforms.Compose(
        [*torchscript_transform(64, 56).transforms, transforms.Lambda(lambda t: t * 2)]
    )
    assert split_at_tensor(whole) is None
    monkeypatch.setattr(decoding, "_collate", recording)
    batch, _ = _batches(iter_image_batches(paths[:3], whole, (3, 56, 56), 4, "cpu", 0))
    assert torch.equal(batch, torch.stack([whole(load_rgb(p)) for p in paths[:3]]))
    assert sent[-1] == torch.float32


@pytest.mark.parametrize("decoder", ["tensor", pytest.param("nvimgcodec", marks=needs_nvimgcodec)])
def test_staged_decoders_match_pil_within_two_grey_levels_on_real_images(real_images, decoder):
    """On CPU both decode with libjpeg-turbo (nvImageCodec's pixels are PIL's, bit for bit), and
    resize and crop with the same tensor operations: their model inputs are equal."""
    paths, _ = real_images
    for transform in (torchscript_transform(), open_clip_transform()):
        preprocessing = describe(transform)
        pil, pil_errors = _batches(iter_image_batches(paths, transform, (3, 224, 224), 32, "cpu", 0))
        staged, staged_errors = _batches(STAGED_DECODERS[decoder](paths, preprocessing, 32, "cpu", 2))
        levels = _grey_levels(pil, staged, preprocessing)
        assert pil_errors == staged_errors == [""] * len(paths)
        assert levels.max() <= 2.01 and levels.mean() < 0.01, (levels.max(), levels.mean())
        # Same normalisation arithmetic as the transform's (CLIP's mean and std to their last
        # digit): the values differ only where the resampling did, 0.16% and 0.34% of them here.
        assert (pil == staged).float().mean() > 0.99
        # nvImageCodec's inputs are the tensor decoder's; either one's are the same in channels-last.
        laid_out = iter_tensor_batches(paths, preprocessing, 32, "cpu", 2, "channels_last")
        assert torch.equal(staged, _batches(laid_out, "channels_last")[0])


@needs_nvimgcodec
def test_nvimgcodec_decoder_falls_back_to_the_cpus_rules(odd_images, real_images, tmp_path):
    """What it is not given (CMYK, PNG, GIF, a corrupt header) or fails on (a JPEG cut in half:
    the rest of its batch still decodes) is decoded as the pil decoder does, with its errors."""
    whole = Path(real_images[0][0]).read_bytes()
    (tmp_path / "half.jpg").write_bytes(whole[: len(whole) // 2])
    paths = [*odd_images, real_images[0][1], str(tmp_path / "half.jpg"), *real_images[0][2:6]]
    transform = torchscript_transform(64, 56)
    preprocessing = describe(transform)
    pil, pil_errors = _batches(iter_image_batches(paths, transform, (3, 56, 56), 4, "cpu", 0))
    codec, codec_errors = _batches(iter_nvimgcodec_batches(paths, preprocessing, 4, "cpu", 2))
    assert codec_errors == pil_errors
    failed = [Path(p).name for p, e in zip(paths, codec_errors) if e]
    assert failed == ["corrupt.jpg", "half.jpg"] and "truncated" in codec_errors[7]
    decoded = [not e for e in codec_errors]
    levels = _grey_levels(pil[decoded], codec[decoded], preprocessing).amax(dim=(1, 2, 3))
    assert levels.tolist() == pytest.approx([0] * sum(decoded), abs=2.01)


def test_nvimgcodec_missing_is_said_when_the_setting_is_read(monkeypatch):
    from laionet_assets.core.images import nvimagecodec
    from laionet_assets.resources import ImageModels

    monkeypatch.setattr(nvimagecodec, "available", lambda: False)
    with pytest.raises(ValueError, match="needs NVIDIA nvImageCodec: install the nvimgcodec extra"):
        ClipImageEncoder("tiny", None, "cpu", 8).configure(decoder="nvimgcodec")
    with pytest.raises(ValueError, match="needs NVIDIA nvImageCodec"):
        ImageModels(decoder="nvimgcodec")
    assert ImageModels(decoder="tensor").decoder == "tensor"


def open_clip_transform():
    import open_clip

    return open_clip.image_transform(224, is_train=False)


def test_tensor_decoder_falls_back_to_load_rgb_and_reports_the_same_errors(odd_images):
    transform = torchscript_transform(64, 56)
    preprocessing = describe(transform)
    pil, pil_errors = _batches(iter_image_batches(odd_images, transform, (3, 56, 56), 4, "cpu", 0))
    tensor, tensor_errors = _batches(iter_tensor_batches(odd_images, preprocessing, 4, "cpu", 2))
    assert tensor_errors == pil_errors
    assert [bool(e) for e in tensor_errors] == [False] * 5 + [True]
    assert tensor_errors[-1].startswith("corrupt.jpg: ")
    levels = _grey_levels(pil[:5], tensor[:5], preprocessing)
    assert levels.amax(dim=(1, 2, 3)).tolist() == pytest.approx([0] * 5, abs=2.01)


class _BatchDecoderOnCpu:
    """A batch decoder that takes every JPEG on the CPU (as ``NvJpeg`` does on CUDA) and decodes
    it by the CPU's rules, counting them; its first call waits until the reading threads have
    decoded an image themselves (``assisted``), so both share the work."""

    in_reader = False

    def __init__(self, assisted):
        self.assisted, self.decoded = assisted, 0

    def takes(self, data: bytes) -> bool:
        return data.startswith(b"\xff\xd8\xff")

    def decode(self, staged) -> None:
        assert self.assisted.wait(timeout=30), "the reading threads decoded nothing"
        for i, data in staged.jpegs.items():
            staged.on_cpu(i, data)
            self.decoded += 1
        staged.jpegs.clear()


def test_cpu_assist_shares_a_batch_between_the_reading_threads_and_the_batch_decoder(
    real_images, odd_images, monkeypatch
):
    """tensor+cpu: the reading threads decode JPEGs until the batch decoder claims the batch.  The
    slow obvious way: every image decoded by the CPU's rules.  Equal bit for bit (on CPU both are
    libjpeg-turbo and one resize), with the same errors, however the work was shared."""
    import threading

    from laionet_assets.core.images import decoders as decoding
    from laionet_assets.core.images.decoders import Staged, iter_staged_batches

    preprocessing = describe(torchscript_transform(64, 56))
    paths = real_images[0][:30] + odd_images
    # Deterministically: two images assisted, the batch claimed, a late assist does nothing.
    staged = Staged(paths, preprocessing, [0, 1, 2, 3])
    staged.jpegs = {i: Path(paths[i]).read_bytes() for i in range(4)}
    staged.assist(0), staged.assist(1)
    staged.claim()
    staged.assist(2)
    staged.collect("cpu")
    assert set(staged.ready) == {0, 1} and set(staged.jpegs) == {2, 3}

    # Every decode by the CPU's rules, by the thread that did it: the batch decoder runs in the
    # model's thread (this one), the reading threads are the others.
    decodes, event, cpu_pixels = [], threading.Event(), decoding._cpu_pixels

    def recording(path, data):
        reader = threading.current_thread() is not threading.main_thread()
        decodes.append((path, reader))
        if reader:
            event.set()
        return cpu_pixels(path, data)

    monkeypatch.setattr(decoding, "_cpu_pixels", recording)
    expected, expected_errors = _batches(iter_tensor_batches(paths, preprocessing, 4, "cpu", 2))
    decodes.clear()
    batch_decoder = _BatchDecoderOnCpu(event)
    shared, errors = _batches(
        iter_staged_batches(paths, preprocessing, 4, "cpu", 2, batch_decoder, cpu_assist=True)
    )
    assert torch.equal(shared, expected) and errors == expected_errors
    assert errors[-1].startswith("corrupt.jpg: ") and not any(errors[:-1])
    jpegs = [p for p in paths if Path(p).read_bytes().startswith(b"\xff\xd8\xff")]
    by_readers = {path for path, reader in decodes if reader and path in jpegs}
    # each JPEG decoded once, shared between the reading threads and the batch decoder
    assert sorted(path for path, _ in decodes if path in jpegs) == sorted(jpegs)
    assert by_readers and len(by_readers) + batch_decoder.decoded == len(jpegs)
    assert chosen_decoder(ClipImageEncoder("tiny", None, "cpu", 8).configure(decoder="tensor+cpu")) == (
        "tensor+cpu"
    )


def test_decode_groups_gather_models_with_one_preprocessing(synsets):
    wnids = synsets["wnid"].to_list()
    models = [
        make_classifier(parse_model_spec(f"timm:{name}:random"), wnids, [], "cpu", 8)
        for name in SHARED_PREPROCESSING[:2]
    ]
    models.insert(1, ClipImageEncoder("tiny", None, "cpu", 8))
    models.append(make_classifier(parse_model_spec("timm:mobilenetv3_small_050:random"), wnids, [], "cpu", 4))
    assert decode_groups(models) == [[0, 2], [1], [3]]  # the last differs in batch size only
    models[2].configure(decoder="pil")
    assert decode_groups(models) == [[0], [1], [2], [3]]


def test_one_decode_pass_gives_each_model_exactly_its_own_outputs(synsets, real_images, odd_images):
    """Grouped decoding against the slow obvious way: each model alone, decoding for itself."""
    wnids = synsets["wnid"].to_list()
    paths = real_images[0][:12] + odd_images
    models = [
        make_classifier(parse_model_spec(f"timm:{name}:random"), wnids, [], "cpu", 8)
        for name in SHARED_PREPROCESSING
    ]
    assert decode_groups(models) == [[0, 1, 2, 3]]
    assert group_memory_format(models) == "channels_last"  # timm's: laid out once for the group
    layouts, forward = [], models[1].forward
    models[1].forward = lambda batch: (
        layouts.append(batch.is_contiguous(memory_format=torch.channels_last)) or forward(batch)
    )
    seen = []
    ran = run_models(models, paths, workers=0, progress=seen.append)
    del models[1].forward
    assert sum(seen) == len(paths) and not ran.failures and ran.decoder == "pil"
    assert layouts and all(layouts)
    for model, grouped in zip(models, ran.outputs):
        alone, errors = model.run(paths, workers=0)
        np.testing.assert_array_equal(grouped, alone)
        assert errors == ran.errors
    assert ran.errors[-1].startswith("corrupt.jpg") and np.isnan(ran.outputs[0][-1]).all()


class _WrongLabelSpace(ImageModel):
    name, version, device, batch_size = "wrong", "wrong 1", "cpu", 8

    def __init__(self, transform):
        self.transform = transform

    def forward(self, batch):
        raise LabelSpaceError("wrong: 10 outputs for 1000 classes")


def test_a_model_that_fails_leaves_its_group_running(synsets, real_images):
    good = make_classifier(
        parse_model_spec("timm:mobilenetv3_small_050:random"), synsets["wnid"].to_list(), []
    )
    good.batch_size = 8
    bad = _WrongLabelSpace(good.transform)
    assert group_memory_format([bad, good]) == "contiguous_format"  # no layout both prefer
    ran = run_models([bad, good], real_images[0][:10], workers=0)
    assert [(k, type(e).__name__) for k, e in ran.failures] == [(0, "LabelSpaceError")]
    assert ran.outputs[0] is None and np.isfinite(ran.outputs[1]).all()
    with pytest.raises(LabelSpaceError, match="10 outputs"):
        bad.run(real_images[0][:2], workers=0)


def test_quantized_mobilenet_keeps_its_accuracy_with_the_tensor_and_nvimgcodec_decoders(real_images, synsets):
    model = shared_path("models", "mobilenet_v2_quantized.pt")
    words = shared_path("models", "mobilenet_v2_words.txt")
    spec = parse_model_spec(f"torchscript:{model}:{words}")
    paths, truth = real_images
    wnids = synsets["wnid"].to_list()
    tensor = make_classifier(spec, wnids, [], decoder="tensor", precision="bf16")
    assert chosen_decoder(tensor) == "tensor" and tensor.precision == "fp32"  # int8: no autocast
    decoders = {"pil": make_classifier(spec, wnids, [], decoder="pil"), "tensor": tensor}
    if nvimgcodec_available():  # the lock installs it; a hand-made environment may not
        decoders["nvimgcodec"] = make_classifier(spec, wnids, [], decoder="nvimgcodec")
        assert chosen_decoder(decoders["nvimgcodec"]) == "nvimgcodec"
    top1 = {}
    for name, classifier in decoders.items():
        logits, errors = classifier.run(paths, workers=2)
        top1[name] = [t[0] for t in top_k_wnids(logits, classifier.class_wnids)]
        assert errors == [""] * 100
    assert np.mean([a == y for a, y in zip(top1["pil"], truth)]) == 0.89  # test_vision's figure
    # measured (top-1, agreement with pil): tensor and nvimgcodec 0.88, 0.97 (the same pixels)
    for name in set(top1) - {"pil"}:
        assert np.mean([a == y for a, y in zip(top1[name], truth)]) >= 0.88, name
        assert np.mean([a == b for a, b in zip(top1["pil"], top1[name])]) >= 0.97, name
    if "nvimgcodec" in top1:
        assert top1["nvimgcodec"] == top1["tensor"]


def test_bf16_runs_under_autocast_and_gets_its_own_version_and_cache_key(real_images):
    fp32 = ClipImageEncoder("tiny", None, "cpu", 8)
    bf16 = ClipImageEncoder("tiny", None, "cpu", 8).configure(precision="bf16")
    assert bf16.encoder_id == fp32.encoder_id + ":bf16" and bf16.version.endswith("[bf16 autocast]")
    dtypes = []
    bf16.clip.model.visual.register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    a, _ = fp32.run(real_images[0][:16], workers=0)
    b, _ = bf16.run(real_images[0][:16], workers=0)
    assert set(dtypes) == {torch.bfloat16}
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() > 0.99 and not np.array_equal(a, b)
    with pytest.raises(ValueError, match="unknown precision 'fp16'"):
        fp32.configure(precision="fp16")
