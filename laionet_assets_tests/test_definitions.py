"""The code location loads, has the design card's assets, and validates its configuration."""

import pytest
from pydantic import ValidationError

from laionet_assets.profiles import resources_for
from laionet_assets.resources import TextEncoderResource


def test_definitions_load_with_the_design_card_assets():
    from laionet_assets.definitions import defs

    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"imagenet_synsets", "lemma_matches", "text_sims", "laionet_clean", "laionet_top50"} <= keys
    checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert checks == {"laionet_class_coverage", "laionet_nsfw_removed", "laionet_schema_and_ranges"}


@pytest.mark.parametrize("profile, kind, threshold", [("paper", "open_clip", 0.82), ("offline", "sentence_transformers", 0.5), ("tiny", "open_clip", 0.0)])
def test_profiles(profile, kind, threshold, monkeypatch):
    monkeypatch.delenv("LAIONET_THRESHOLD", raising=False)
    encoder = resources_for(profile, "/tmp/x")["text_encoder"]
    assert (encoder.kind, encoder.threshold) == (kind, threshold)


def test_unknown_profile():
    with pytest.raises(ValueError, match="unknown LAIONET_PROFILE"):
        resources_for("huge")


def test_threshold_outside_range_is_rejected():
    with pytest.raises(ValidationError, match="outside"):
        TextEncoderResource(threshold=1.5)
    with pytest.raises(ValidationError, match="unknown text encoder kind"):
        TextEncoderResource(kind="bert")
