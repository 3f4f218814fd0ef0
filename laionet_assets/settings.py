"""Every setting of laionet_assets, declared once.

One row per knob: its name (``--name-with-dashes`` on the command line, ``LAIONET_NAME`` in the
environment unless the row names another variable), its type, what it sets (a resource field, an
asset's config, or the process: executor, home, profile), its help text and its choices.  From
this table come the ``laionet`` CLI flags, the ``LAIONET_*`` variables ``resources_for`` reads,
and the launchpad's defaults and field descriptions (the profile's values, then the environment).

Adding a knob is adding one row (and, for a resource field, the field on its resource class).
The module is long because the table is: it holds every knob of the project, one row each.

Precedence, lowest first: the resource class default, the profile (``laionet_assets.profiles``),
the ``LAIONET_*`` variable, the CLI flag (an ``overrides`` entry), the launchpad's run config.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from laionet_assets.core.export.imagefolder import IMAGE_MODES
from laionet_assets.core.images.decoders import DECODERS, PRECISIONS
from laionet_assets.core.images.folders import LAYOUTS
from laionet_assets.core.releases.layouts import LAYOUT_CHOICES
from laionet_assets.core.releases.shipped import SOURCES
from laionet_assets.core.search.caption_index import CAPTION_SCOPES, SEARCH_ENGINES
from laionet_assets.core.text.matching import MODES
from laionet_assets.core.text.selection import NSFW_POLICIES
from laionet_assets.core.text.similarity import TEXT_ENCODER_KINDS

RESOURCE, ASSET_CONFIG, PROCESS = "resource", "asset_config", "process"


class SettingError(ValueError):
    """A value a setting does not take: one line naming the setting, the value and what it takes."""


IMAGE_RUNNERS = ("image_models", "image_encoder")  # the two resources that run image models
# the assets that select from LAIONet's pool, with one safety policy
LAIONET_SELECTIONS = ("laionet", "laionet_sweep_images", "laionet_image_selected")
TYPES = (str, int, float, bool, list, dict)
_TRUE, _FALSE = ("1", "true", "yes"), ("0", "false", "no")


@dataclass(frozen=True)
class Setting:
    """One knob.  ``target``: a resource key (with ``field``), or a tuple of resource keys that
    share the field (the image models and the image encoder run alike), an asset's op name (its
    config ``field``) or a tuple of op names that share it (LAIONet's selection and its threshold
    sweep apply one safety policy), or ``None`` for a process setting read straight from the
    environment."""

    name: str
    type: type
    scope: str
    target: str | tuple[str, ...] | None
    field: str | None
    help: str
    choices: tuple[str, ...] | None = None
    env_var: str | None = ""  # "" → LAIONET_<NAME>; None → no variable (asset configs: launchpad)
    flag: str | None = ""  # "" → --<name-with-dashes>; None → no CLI flag
    default: Any = None  # process settings only; resource defaults live on the classes and profiles
    item: type = str  # a list's items

    def __post_init__(self):
        assert self.type in TYPES, self.name
        assert (self.scope == PROCESS) == (self.target is None), self.name

    @property
    def targets(self) -> tuple[str, ...]:
        """The resource keys or op names this setting sets."""
        if self.target is None:
            return ()
        return self.target if isinstance(self.target, tuple) else (self.target,)

    @property
    def env(self) -> str | None:
        return f"LAIONET_{self.name.upper()}" if self.env_var == "" else self.env_var

    @property
    def option(self) -> str | None:
        return "--" + self.name.replace("_", "-") if self.flag == "" else self.flag

    def parse(self, raw: str) -> Any:
        """The typed value of a string from the environment or the command line."""
        if self.type is list:
            return [self.item(item.strip()) for item in raw.split(",") if item.strip()]
        if self.type is bool:
            if raw.lower() not in _TRUE + _FALSE:
                raise ValueError(raw)
            return raw.lower() in _TRUE
        if self.type is dict:
            value = json.loads(raw)
            if not isinstance(value, dict):
                raise ValueError(raw)
            return value
        value = self.type(raw)
        if self.choices and value not in self.choices:
            raise ValueError(raw)
        return value

    def from_env(self, environ: Mapping[str, str] | None = None) -> Any:
        """The environment's value, ``None`` when unset or empty; a bad value names the variable."""
        environ = os.environ if environ is None else environ
        raw = environ.get(self.env) if self.env else None
        if raw is None or raw == "":
            return None
        try:
            return self.parse(raw)
        except ValueError:
            raise SettingError(f"{self.env}={raw!r} {self.refusal(raw)}") from None

    def expected(self) -> str:
        """What the setting takes, in words."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        return {
            bool: "true or false",
            list: "a comma-separated list",
            dict: "a JSON object",
        }.get(self.type, f"a valid {self.type.__name__}")

    def refusal(self, raw: str) -> str:
        """``is not <what it takes>``, and the closest choice where one is close."""
        close = difflib.get_close_matches(raw, self.choices or (), n=1)
        return f"is not {self.expected()}" + (f"; did you mean {close[0]!r}?" if close else "")


def _r(name, type_, target, field, help, **kw) -> Setting:
    return Setting(name, type_, RESOURCE, target, field, help, **kw)


def _a(name, type_, op, field, help, **kw) -> Setting:
    return Setting(name, type_, ASSET_CONFIG, op, field, help, env_var=None, **kw)


def _p(name, type_, help, default=None, **kw) -> Setting:
    return Setting(name, type_, PROCESS, None, None, help, default=default, **kw)


SETTINGS: tuple[Setting, ...] = (
    # process: where outputs live, which profile, how steps execute
    _p(
        "home",
        str,
        "outputs' home: a folder (default: ./data; the CLI's Dagster instance goes in it too) or an "
        "fsspec URL such as s3://bucket/laionet (credentials and endpoint from AWS_* variables)",
        "data",
    ),
    _p(
        "instances",
        str,
        "where the CLI keeps the Dagster instance of a URL home (an object store holds no database)",
        "~/.laionet/instances",
        flag=None,
    ),
    _p(
        "profile",
        str,
        "model profile: paper (the paper's models, real weights through the libraries' own loaders), "
        "offline (models that install from the package registries; the demo's), tiny (random-init "
        "small models, for tests)",
        "paper",
        choices=("paper", "offline", "tiny"),
    ),
    _p(
        "executor",
        str,
        "how steps execute: multiprocess, in_process, k8s or celery",
        "multiprocess",
        choices=("multiprocess", "in_process", "k8s", "celery"),
        flag=None,
    ),
    _p("max_concurrent", int, "steps at once under the multiprocess executor", 2, flag=None),
    _p(
        "celery_broker",
        str,
        "the Celery broker URL of LAIONET_EXECUTOR=celery (checked before a run starts)",
        "redis://127.0.0.1:6379/0",
        flag=None,
    ),
    _p(
        "celery_backend",
        str,
        "the Celery result backend URL (default: the broker's)",
        "",
        flag=None,
    ),
    _p(
        "releases_root",
        str,
        "folder or fsspec URL the release sensor watches (default <home>/releases)",
        "",
        flag=None,
    ),
    _p("refresh_cron", str, "cron schedule of laionet_refresh_schedule", "0 3 * * *", flag=None),
    _p("log_level", str, "level of Dagster's own log that laionet run -v prints", "INFO", flag=None),
    # reading releases: which layout, or which columns (registration and the release sensor)
    _p(
        "layout",
        str,
        "release layout (default auto: detected from file names and Parquet footers)",
        "auto",
        choices=LAYOUT_CHOICES,
    ),
    _p(
        "columns",
        str,
        "read any other Parquet/TSV release: text=COL,url=COL,id=COL[,nsfw_tag=…,unsafe_score=…]",
        "",
    ),
    _p(
        "embeddings_model",
        str,
        "the model behind a release's shipped vectors when not the layout's (e.g. ViT-L-14/openai for "
        "clip-retrieval output of another model)",
        "",
    ),
    # the text side: lemma matching and LAIONet's selection (asset configs)
    _a("mode", str, "lemma_matches", "mode", "lemma matching mode (default paper)", choices=MODES),
    _a("language", str, "lemma_matches", "language", "keep rows whose language column says this, e.g. en"),
    _a(
        "nsfw_policy",
        str,
        LAIONET_SELECTIONS,
        "nsfw_policy",
        "safety policy: auto (NSFW tag UNLIKELY, else unsafe score <= max), require_unlikely, "
        "allow_missing, max_unsafe_score, or none (releases without a safety signal)",
        choices=NSFW_POLICIES,
    ),
    _a(
        "max_unsafe_score",
        float,
        LAIONET_SELECTIONS,
        "max_unsafe_score",
        "highest unsafe score kept (default 0.5)",
    ),
    _a("top_k", int, "laionet", "top_k", "rows per class in laionet_top50 (default 50)"),
    _a(
        "baseline_release",
        str,
        "release_comparison",
        "baseline_release",
        "the release every other is compared with in release_comparison (default: every pair)",
    ),
    _a(
        "sweep_thresholds",
        list,
        "laionet_sweep_images",
        "thresholds",
        "similarity thresholds of laionet_threshold_sweep, comma-separated (default: 0.7,0.74,0.78,0.82,"
        "0.86,0.9 for CLIP, else the sweep quantiles of the similarities)",
        item=float,
    ),
    _a(
        "sweep_quantiles",
        list,
        "laionet_sweep_images",
        "quantiles",
        "for a non-CLIP text encoder: the sweep's thresholds as these quantiles of the candidates' "
        "similarities (default 0.5,0.6,0.7,0.8,0.9,0.95)",
        item=float,
    ),
    _a(
        "gallery_images_per_class",
        int,
        "laionet_gallery",
        "images_per_class",
        "images per class and dataset in the gallery page (default 8)",
    ),
    _a(
        "rating_trials_per_class",
        int,
        "laionet_gallery",
        "trials_per_class",
        "trials per class in rating_study_pairs.csv (default 4)",
    ),
    _a(
        "export_shard_size",
        int,
        "laionet_export",
        "shard_size",
        "laionet export: samples per WebDataset shard and rows per Parquet file (default 10000)",
    ),
    _a(
        "export_images",
        str,
        "laionet_export",
        "images",
        "laionet export: an ImageFolder's images copied, hard-linked (copied across file systems) or "
        "symlinked to the image store (default copy)",
        choices=IMAGE_MODES,
    ),
    _a(
        "caption_index",
        str,
        "laion_caption_index",
        "captions",
        "captions the §4.3 index holds: all, matched, or auto (all when the release ships caption vectors "
        "of the encoder)",
        choices=CAPTION_SCOPES,
    ),
    _a(
        "search_engine",
        str,
        "captions_nearest_laion",
        "engine",
        "nearest-caption search: exact (chunked matrix products), faiss (IVF-PQ, CPU), ivf_pq (LanceDB), "
        "or auto (exact on a GPU or a small index, else faiss)",
        choices=SEARCH_ENGINES,
    ),
    # the text encoder
    _r(
        "text_encoder",
        str,
        "text_encoder",
        "kind",
        "caption/synset text encoder family",
        choices=TEXT_ENCODER_KINDS,
    ),
    _r(
        "text_model",
        str,
        "text_encoder",
        "model",
        "open_clip architecture, sentence-transformers name, or local folder",
    ),
    _r(
        "pretrained",
        str,
        "text_encoder",
        "pretrained",
        "open_clip weights tag or local checkpoint file",
        env_var="LAIONET_TEXT_PRETRAINED",
    ),
    _r(
        "threshold", float, "text_encoder", "threshold", "keep text_similarity > THRESHOLD (CLIP paper: 0.82)"
    ),
    _r("device", str, "text_encoder", "device", "text encoder device: auto, cpu, cuda, cuda:N"),
    _r("batch_size", int, "text_encoder", "batch_size", "text encoder batch size"),
    _r(
        "text_embeddings",
        str,
        "text_encoder",
        "embeddings",
        "caption vectors: encode, release (the part's shipped vectors of the configured model), or "
        "auto (shipped when they are the configured model's, else encode)",
        choices=SOURCES,
    ),
    # quality gates (blocking checks on laionet_clean)
    _r("min_classes", int, "quality_gates", "min_covered_classes", "class-coverage check minimum"),
    _r(
        "nsfw_policy_required",
        str,
        "quality_gates",
        "nsfw_policy_required",
        "NSFW policy the blocking check enforces",
        choices=NSFW_POLICIES,
    ),
    _r(
        "max_unsafe_score_required",
        float,
        "quality_gates",
        "max_unsafe_score_required",
        "highest unsafe score the blocking check allows",
    ),
    _r(
        "min_download_ok_warn",
        float,
        "quality_gates",
        "min_download_ok_warn",
        "share of LAIONet's samples whose image downloaded and passed below which the downloads check warns",
    ),
    _r(
        "min_download_ok_error",
        float,
        "quality_gates",
        "min_download_ok_error",
        "share below which the downloads check fails, blocks what reads the images and makes "
        "laionet run exit 1",
    ),
    # the image side: classifiers, the CLIP image encoder, labelled folders, downloads, OCR
    _r(
        "models",
        list,
        "image_models",
        "models",
        "comma-separated image classifiers, e.g. timm:resnet50,"
        "clip:ViT-B-32:openai,torchscript:model.pt:classes.txt",
    ),
    _r(
        "image_device",
        str,
        IMAGE_RUNNERS,
        "device",
        "image models' and image encoder's device: auto, cpu, cuda, cuda:N",
    ),
    _r("image_batch_size", int, IMAGE_RUNNERS, "batch_size", "image models' and image encoder's batch size"),
    _r(
        "decode_workers",
        int,
        IMAGE_RUNNERS,
        "decode_workers",
        "image decode workers: processes for the pil decoder, threads for the tensor and "
        "nvimgcodec decoders (-1: automatic, none on CPU)",
    ),
    _r(
        "decoder",
        str,
        IMAGE_RUNNERS,
        "decoder",
        "image decoding: pil (PIL and the model's transform in worker processes), tensor "
        "(torchvision.io on the model's device: nvJPEG on CUDA), tensor+cpu (tensor, with the "
        "reading threads decoding a self-balancing share of the JPEGs on the CPU), nvimgcodec "
        "(NVIDIA nvImageCodec: the GPU's hardware JPEG decoders on CUDA), or auto (tensor on "
        "CUDA, else pil)",
        choices=DECODERS,
    ),
    _r(
        "precision",
        str,
        IMAGE_RUNNERS,
        "precision",
        "image models' and image encoder's precision: fp32, or bf16 (torch.autocast to bfloat16)",
        choices=PRECISIONS,
    ),
    _r(
        "vocabulary",
        str,
        "storage",
        "vocabulary",
        "the classes searched for: imagenet1k (default), cifar100, food101, or a file (class table, or a "
        "lemma → wnid dictionary in JSON, TSV or a pickled dict); each vocabulary's outputs live in "
        "<home>/vocabularies/<name>/",
    ),
    _r(
        "image_encoder",
        str,
        "image_encoder",
        "model",
        "CLIP architecture for intra-class similarity (e.g. ViT-B-32, tiny)",
    ),
    _r(
        "image_pretrained",
        str,
        "image_encoder",
        "pretrained",
        "open_clip weights tag or local checkpoint for the image encoder",
    ),
    _r(
        "image_embeddings",
        str,
        "image_encoder",
        "embeddings",
        "LAIONet image vectors: encode (the downloaded images), release (the parts' shipped vectors of "
        "the configured model: no download needed), or auto (shipped when every part has them)",
        choices=SOURCES,
    ),
    _r("imagenet_val", str, "image_folders", "imagenet_val", "ImageNet val folder (<wnid>/<file>)"),
    _r(
        "imagenet_val_layout",
        str,
        "image_folders",
        "imagenet_val_layout",
        "ImageNet val layout (auto detects wnid or index folders)",
        choices=LAYOUTS,
    ),
    _r(
        "imagenet_val_labels",
        str,
        "image_folders",
        "imagenet_val_labels",
        "labels file for the labels_file layout",
    ),
    *(
        _r(
            f"imagenetv2_{v}",
            str,
            "image_folders",
            f"imagenetv2_{v}",
            f"ImageNetV2 version {v} folder (<class index>/<file>)",
        )
        for v in "abc"
    ),
    _r(
        "imagenet_captions",
        str,
        "image_folders",
        "imagenet_captions",
        "ImageNet-Captions JSON file (path or fsspec URL)",
    ),
    _r("download_concurrency", int, "downloader", "concurrency", "concurrent image downloads per process"),
    _r(
        "download_processes",
        int,
        "downloader",
        "processes",
        "image downloading processes (each with its concurrency)",
    ),
    _r(
        "download_resize",
        int,
        "downloader",
        "resize_shorter",
        "store images with the shorter side cut to this many pixels (JPEG, as img2dataset does); 0: "
        "the original bytes, as the paper (default)",
    ),
    _r("download_timeout", float, "downloader", "timeout_s", "seconds to connect, and per wait for data"),
    _r(
        "download_deadline",
        float,
        "downloader",
        "deadline_s",
        "seconds one fetch may take in all, its redirects included; 0: 3 × the timeout (default)",
    ),
    _r(
        "download_allow",
        list,
        "downloader",
        "allow",
        "comma-separated CIDR networks, addresses or host names that may be fetched although not "
        "global (a mirror, a local cache); by default only globally routable addresses are",
    ),
    _r(
        "download_opt_out",
        list,
        "downloader",
        "opt_out_directives",
        "comma-separated X-Robots-Tag directives that opt an image out (default noai, noimageai, "
        "noindex, noimageindex)",
    ),
    _r(
        "download_checkpoint_rows",
        int,
        "downloader",
        "checkpoint_rows",
        "samples fetched (and images read) between checkpoints of laionet_images, from which a "
        "killed run resumes",
    ),
    _r(
        "max_image_pixels",
        int,
        "downloader",
        "max_image_pixels",
        "an image larger than this many pixels (read from its header) is too_large and never decoded",
    ),
    _r("download_retries", int, "downloader", "retries", "retries of a retryable download failure"),
    _r(
        "url_rewrites",
        dict,
        "downloader",
        "url_rewrites",
        'URL prefix rewrites as JSON, e.g. {"https://host/": "http://mirror/"} (a mirror or local cache)',
    ),
    _r("ocr", bool, "ocr", "enabled", "the OCR filter (default true)", choices=None),
    # the causal experiments: selection by image, and the completed rating study
    _r(
        "image_to_class_threshold",
        float,
        "experiments",
        "image_to_class_threshold",
        "selection by image: keep a candidate whose image's CLIP similarity to its synset text is above "
        "this (default: the value at which the rule keeps as many candidates as LAIONet's caption rule)",
    ),
    _r(
        "image_to_prototype_threshold",
        float,
        "experiments",
        "image_to_prototype_threshold",
        "selection by image: keep a candidate whose image's cosine to its class's ImageNet centroid is "
        "above this (default: as many as LAIONet's caption rule keeps)",
    ),
    _r(
        "matched_min_images",
        int,
        "experiments",
        "matched_min_images",
        "selection_comparison compares a class only where every set has at least this many images "
        "(default 5)",
    ),
    _r(
        "matched_max_images",
        int,
        "experiments",
        "matched_max_images",
        "the most images per class and set selection_comparison compares (default 100, as the paper)",
    ),
    _r(
        "image_selection_quantiles",
        list,
        "experiments",
        "image_selection_quantiles",
        "the image rules' threshold sweep: thresholds at these quantiles of each rule's scores "
        "(default 0.5,0.6,0.7,0.8,0.9,0.95)",
        item=float,
    ),
    _r(
        "image_selected_downloads",
        bool,
        "experiments",
        "image_selected_downloads",
        "download the image-selected candidates outside LAIONet, so models are evaluated on them and, "
        "where the release ships no image vectors, the candidates can be embedded (default false)",
    ),
    _r(
        "rating_answers",
        str,
        "experiments",
        "rating_answers",
        "the completed rating study: rating_study_pairs.csv with a rater and a chosen column per answer",
    ),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
assert len(BY_NAME) == len(SETTINGS), "a setting is declared twice"


def setting(name: str) -> Setting:
    return BY_NAME[name]


def process_setting(name: str, environ: Mapping[str, str] | None = None) -> Any:
    """A process setting's value: its variable, else its default."""
    s = BY_NAME[name]
    assert s.scope == PROCESS, name
    value = s.from_env(environ)
    return s.default if value is None else value


def env_values(environ: Mapping[str, str] | None = None, scope: str = RESOURCE) -> dict[str, Any]:
    """The ``LAIONET_*`` values of one scope's settings that are set, by setting name."""
    values = {}
    for s in SETTINGS:
        if s.scope == scope:
            value = s.from_env(environ)
            if value is not None:
                values[s.name] = value
    return values


def env_names(environ: Mapping[str, str] | None = None) -> set[str]:
    """The settings whose ``LAIONET_*`` variable is set (not parsed: a bad value is reported where
    the value is read)."""
    environ = os.environ if environ is None else environ
    return {s.name for s in SETTINGS if s.env and environ.get(s.env)}


def check_names(values: Mapping[str, Any], scope: str | None = None) -> None:
    unknown = sorted(k for k in values if k not in BY_NAME or (scope and BY_NAME[k].scope != scope))
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}; known: {', '.join(BY_NAME)}")


def by_resource(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Resource settings' values grouped as ``{resource key: {field: value}}``."""
    check_names(values, RESOURCE)
    grouped: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        s = BY_NAME[name]
        for target in s.targets:
            grouped.setdefault(target, {})[s.field] = value
    return grouped


def asset_run_config(values: Mapping[str, Any], ops: set[str] | None = None) -> dict:
    """Run config for asset-config settings: ``{"ops": {op: {"config": {field: value}}}}``, only
    for the ops in ``ops`` when given."""
    check_names(values, ASSET_CONFIG)
    config: dict[str, dict] = {}
    for name, value in values.items():
        s = BY_NAME[name]
        for op in s.targets:
            if value is not None and (ops is None or op in ops):
                config.setdefault(op, {"config": {}})["config"][s.field] = value
    return {"ops": config} if config else {}


def field_help(resource: str) -> dict[str, str]:
    """Launchpad descriptions of a resource's fields: the help of the setting behind each, with
    its variable."""
    return {
        s.field: f"{s.help} (setting {s.name}, {s.env or 'no variable'}, {s.option or 'no flag'})"
        for s in SETTINGS
        if s.scope == RESOURCE and resource in s.targets
    }
