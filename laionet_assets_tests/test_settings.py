"""The settings table: one row per knob, from which flags, variables and launchpad defaults come."""

import argparse

import pytest

from laionet_assets import settings
from laionet_assets.profiles import PROFILE_RECORDS, RESOURCE_CLASSES, resources_for
from laionet_assets.settings import ASSET_CONFIG, PROCESS, RESOURCE, SETTINGS


def test_every_resource_setting_names_a_real_field_and_every_asset_setting_a_real_config():
    from laionet_assets.definitions import all_assets

    configs = {a.op.name: a.op.config_schema for a in all_assets}
    for s in SETTINGS:
        if s.scope == RESOURCE:
            for target in s.targets:
                assert s.field in RESOURCE_CLASSES[target].model_fields, s.name
        elif s.scope == ASSET_CONFIG:
            for op in s.targets:
                assert s.field in configs[op].as_field().config_type.fields, s.name


def test_names_flags_and_variables_are_unique_and_derived():
    envs = [s.env for s in SETTINGS if s.env]
    flags = [s.option for s in SETTINGS if s.option]
    assert len(set(envs)) == len(envs) and len(set(flags)) == len(flags)
    assert settings.setting("download_concurrency").env == "LAIONET_DOWNLOAD_CONCURRENCY"
    assert settings.setting("download_concurrency").option == "--download-concurrency"
    assert settings.setting("pretrained").env == "LAIONET_TEXT_PRETRAINED"  # the one variable named otherwise
    assert settings.setting("mode").env is None  # asset configs: the launchpad's ops config, no variable


def test_cli_flags_are_generated_from_the_table():
    from laionet_assets.cli.parser import add_setting_flags

    parser = argparse.ArgumentParser()
    add_setting_flags(parser)
    options = {o for action in parser._actions for o in action.option_strings} - {"-h", "--help"}
    assert options == {s.option for s in SETTINGS if s.scope != PROCESS and s.option}
    args = parser.parse_args(
        [
            "--models",
            "clip:tiny, timm:resnet50",
            "--ocr",
            "no",
            "--threshold",
            "0.3",
            "--url-rewrites",
            '{"https://a/": "http://127.0.0.1/"}',
        ]
    )
    from laionet_assets.cli.parser import chosen_settings

    assert chosen_settings(args) == {
        "models": ["clip:tiny", "timm:resnet50"],
        "ocr": False,
        "threshold": 0.3,
        "url_rewrites": {"https://a/": "http://127.0.0.1/"},
    }


@pytest.mark.parametrize("profile", sorted(PROFILE_RECORDS))
def test_a_profile_is_one_complete_record(profile, monkeypatch):
    for s in SETTINGS:
        if s.env:
            monkeypatch.delenv(s.env, raising=False)
    record = PROFILE_RECORDS[profile]
    resources = resources_for(profile, "/tmp/x")
    for name, value in record.values().items():
        s = settings.setting(name)
        for target in s.targets:
            assert getattr(resources[target], s.field) == value, name


def test_an_image_runner_setting_sets_the_classifiers_and_the_encoder_alike(monkeypatch):
    monkeypatch.setenv("LAIONET_PRECISION", "bf16")
    resources = resources_for("tiny", "/tmp/x", {"decoder": "tensor", "image_batch_size": 7})
    for key in settings.IMAGE_RUNNERS:
        assert (resources[key].precision, resources[key].decoder, resources[key].batch_size) == (
            "bf16",
            "tensor",
            7,
        )
    monkeypatch.setenv("LAIONET_PRECISION", "fp16")
    with pytest.raises(ValueError, match="LAIONET_PRECISION='fp16' is not one of"):
        resources_for("tiny", "/tmp/x")


def test_precedence_profile_then_environment_then_overrides(monkeypatch):
    monkeypatch.setenv("LAIONET_THRESHOLD", "0.3")
    monkeypatch.setenv("LAIONET_DOWNLOAD_RETRIES", "7")
    resources = resources_for("paper", "/tmp/x", {"threshold": 0.9})
    assert resources["text_encoder"].threshold == 0.9  # the flag beats the variable
    assert resources["downloader"].retries == 7  # the variable beats the class default
    assert resources["text_encoder"].model == "ViT-B-32"  # the profile's
    with pytest.raises(ValueError, match="unknown setting"):
        resources_for("paper", "/tmp/x", {"thresold": 0.9})


def test_launchpad_shows_each_field_with_its_setting_help():
    resources = resources_for("tiny", "/tmp/x")
    field = type(resources["downloader"]).model_fields["concurrency"]
    assert (
        field.description.startswith("concurrent image downloads")
        and "LAIONET_DOWNLOAD_CONCURRENCY" in field.description
    )


def test_process_settings(monkeypatch):
    monkeypatch.setenv("LAIONET_MAX_CONCURRENT", "x")
    with pytest.raises(ValueError, match="LAIONET_MAX_CONCURRENT='x' is not a valid int"):
        settings.process_setting("max_concurrent")
    monkeypatch.delenv("LAIONET_MAX_CONCURRENT")
    assert settings.process_setting("max_concurrent") == 2
    monkeypatch.setenv("LAIONET_PROFILE", "huge")
    with pytest.raises(ValueError, match="LAIONET_PROFILE='huge' is not one of"):
        settings.process_setting("profile")


def test_asset_run_config_goes_to_the_ops_in_the_run():
    values = {"mode": "longest", "top_k": 3}
    assert settings.asset_run_config(values, {"lemma_matches"}) == {
        "ops": {"lemma_matches": {"config": {"mode": "longest"}}}
    }
    assert settings.asset_run_config(values) == {
        "ops": {"lemma_matches": {"config": {"mode": "longest"}}, "laionet": {"config": {"top_k": 3}}}
    }


def test_list_settings_parse_their_items_and_shared_asset_settings_reach_every_op():
    assert settings.setting("sweep_thresholds").parse("0.6, 0.8") == [0.6, 0.8]
    with pytest.raises(ValueError):
        settings.setting("sweep_quantiles").parse("0.5,half")
    config = settings.asset_run_config({"nsfw_policy": "none", "sweep_thresholds": [0.6]})["ops"]
    assert config["laionet"]["config"] == {"nsfw_policy": "none"}
    assert config["laionet_sweep_images"]["config"] == {"nsfw_policy": "none", "thresholds": [0.6]}
    only = settings.asset_run_config({"nsfw_policy": "none"}, {"laionet"})["ops"]
    assert list(only) == ["laionet"]


def test_a_vocabulary_chosen_for_a_run_places_its_tables(tmp_path):
    """Home and vocabulary are configured once, on the storage resource: a run's config that
    changes the vocabulary moves the IO manager's tables with it."""
    import dagster as dg
    import polars as pl

    from laionet_assets.profiles import resources_for

    resources = resources_for("tiny", str(tmp_path))

    @dg.asset
    def toy() -> pl.DataFrame:
        return pl.DataFrame({"a": [1]})

    result = dg.materialize(
        [toy],
        resources={"storage": resources["storage"], "io_manager": resources["io_manager"]},
        run_config={"resources": {"storage": {"config": {"vocabulary": "cifar100"}}}},
    )
    assert result.success
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet")] == [
        "vocabularies/cifar100/assets/toy.parquet"
    ]
