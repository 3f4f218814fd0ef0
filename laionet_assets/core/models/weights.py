"""Weights from the model hubs, fetched before a run: the ``paper`` profile's models come through
the libraries' own loaders (open_clip's pretrained tags, timm's ``pretrained=True``,
sentence-transformers by name), which download into their caches on first use.  ``fetch`` does
that once, before anything runs, and says in one line which model cannot be had and why, rather
than letting the first step that loads it fail mid-run.  Local files and random weights need
nothing."""

from __future__ import annotations

from dataclasses import dataclass

from laionet_assets.core.models.loading import looks_like_path


class WeightsUnavailable(RuntimeError):
    """A model's weights are neither in its library's cache nor downloadable from here."""


@dataclass(frozen=True)
class HubWeights:
    library: str  # open_clip, timm or sentence_transformers
    model: str
    tag: str | None = None  # open_clip's pretrained tag

    @property
    def name(self) -> str:
        return f"{self.library} {self.model}" + (f" {self.tag!r}" if self.tag else "")


def open_clip_weights(model: str, tag: str | None) -> list[HubWeights]:
    """What an open_clip model with ``tag`` needs from a hub: nothing for a file, no tag or ``tiny``."""
    if not tag or looks_like_path(tag) or model == "tiny":
        return []
    return [HubWeights("open_clip", model, tag)]


def timm_weights(model: str, weights: str | None) -> list[HubWeights]:
    """timm's ``pretrained=True`` (``weights`` None) needs the hub; a file or ``random`` does not."""
    return [HubWeights("timm", model)] if weights is None else []


def sentence_transformers_weights(model: str, bundled: str) -> list[HubWeights]:
    if model == bundled or looks_like_path(model):
        return []
    return [HubWeights("sentence_transformers", model)]


def fetch(weights: HubWeights) -> None:
    """Into the library's cache (a no-op when it is there), or ``WeightsUnavailable``."""
    try:
        if weights.library == "open_clip":
            import open_clip

            cfg = open_clip.get_pretrained_cfg(weights.model, weights.tag)
            if not cfg:
                raise WeightsUnavailable(f"open_clip has no weights {weights.tag!r} for {weights.model}")
            open_clip.download_pretrained(cfg)
        elif weights.library == "timm":
            from huggingface_hub import hf_hub_download
            from timm.models import get_pretrained_cfg

            cfg = get_pretrained_cfg(weights.model)
            if cfg is None or not cfg.hf_hub_id:
                raise WeightsUnavailable(f"timm has no hub weights for {weights.model}")
            repo, _, revision = cfg.hf_hub_id.partition("@")
            try:
                hf_hub_download(repo, "model.safetensors", revision=revision or None)
            except Exception:  # older repositories hold only the PyTorch file
                hf_hub_download(repo, "pytorch_model.bin", revision=revision or None)
        else:
            from huggingface_hub import snapshot_download

            snapshot_download(
                weights.model if "/" in weights.model else f"sentence-transformers/{weights.model}"
            )
    except WeightsUnavailable:
        raise
    except Exception as exc:  # the hubs raise their own errors: offline, not found, refused, timeout
        reason = str(exc).strip().splitlines()[0].split(". ")[0] if str(exc).strip() else ""
        raise WeightsUnavailable(f"{weights.name}: {type(exc).__name__}: {reason}"[:300]) from None
