"""The code location loads, has the design card's assets, and validates its configuration."""

import pytest
from pydantic import ValidationError

from laionet_assets.profiles import resources_for
from laionet_assets.resources import TextEncoderResource, check_model_names


def test_definitions_load_with_the_design_card_assets():
    from laionet_assets.definitions import defs

    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"imagenet_synsets", "lemma_matches", "text_sims", "laionet_clean", "laionet_top50"} <= keys
    from laionet_assets.graph import asset_plan

    plan = asset_plan()
    assert keys == set(plan.order) and len(keys) == 48  # the CLI offers every asset of the graph
    assert plan.on_demand.keys() == {"laionet_export"} and "laionet_export" not in plan.everything
    text_side = ("lemma_matches", "text_sims", "laion_caption_index")
    image_side = ("laionet_images", "laionet_final", "image_embeddings", "model_predictions")
    assert plan.partitioned == (*text_side, *image_side)
    assert plan.upstream == ("imagenet_synsets",)
    # per part, then LAIONet from every part, then the image side per part, then what reads it all
    per_part = [set(stage) for each_part, stage in plan.stages if each_part]
    assert per_part == [set(text_side), set(image_side)]
    position = {a: i for i, (_, stage) in enumerate(plan.stages) for a in stage}
    assert position["laion_caption_index"] < position["laionet_clean"] < position["laionet_images"]
    assert position["model_predictions"] < position["accuracy"]
    assert position["laionet_images"] < position["text_matched_images"]  # it reuses their downloads
    assert position["laionet_images"] < position["laionet_sweep_images"]  # so does the sweep
    assert position["model_predictions"] < position["laionet_threshold_sweep"]  # and their predictions
    for group in plan.together:  # a multi-asset runs as one step: one stage
        assert len({position[a] for a in group}) == 1
    runs = plan.runs(["laionet_images", "accuracy", "imagenet_synsets"], ["rel-p1", "rel-p2"], "rel")
    assert runs == [
        (["imagenet_synsets"], None),
        (["laionet_images"], "rel-p1"),
        (["laionet_images"], "rel-p2"),
        (["accuracy"], "rel"),
    ]
    with pytest.raises(ValueError, match="computed per release: name the release"):
        plan.runs(["accuracy"], ["rel-p1"])
    # one LAIONet per release: it and everything computed from it are partitioned by release
    assert {"laionet_clean", "laionet_top50", "accuracy", "intra_class_stats", "report"} <= set(
        plan.per_release
    )
    assert not {"imagenet_synsets", "reference_image_embeddings", *text_side, *image_side} & set(
        plan.per_release
    )
    laionet = ("class_frequencies", "coverage_vs_threshold", "laionet_clean", "laionet_top50")
    assert laionet in plan.together  # side outputs are assets of their multi-asset
    chosen = plan.select(["laionet_top50", "imagenet_synsets"])
    assert chosen[0] == "imagenet_synsets" and sorted(chosen[1:]) == list(laionet)
    assert plan.ops["laionet_top50"] == "laionet"
    jobs = {job.name: job for job in defs.resolve_all_job_defs()}  # every job's selection resolves
    job_assets = {
        name: {k.to_user_string() for k in jobs[name].asset_layer.executable_asset_keys}
        for name in ("laionet_refresh_job", "laionet_image_part_job", "laionet_evaluation_job")
    }
    assert job_assets["laionet_image_part_job"] == set(image_side)
    # the refresh, each part's image side and the evaluation cover the graph past the parts, once,
    # but for what is built on demand only
    assert set.union(*job_assets.values()) == set(plan.everything) - {"imagenet_synsets", *text_side}
    assert sum(map(len, job_assets.values())) == len(plan.everything) - 1 - len(text_side)
    checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert checks == {
        "laionet_class_coverage",
        "laionet_nsfw_removed",
        "laionet_schema_and_ranges",
        "laionet_images_downloaded",
        "text_sims_rows_kept",
        "model_predictions_errors",
    }


def test_every_edge_between_parts_and_releases_says_which_partitions_it_reads():
    """Dagster maps no partition of one dynamic definition to another: every dependency between a
    per-part and a per-release asset is declared (all partitions, narrowed by the IO manager
    through the registry), and every loaded one names its direction."""
    import dagster as dg

    from laionet_assets.definitions import defs
    from laionet_assets.defs.partitions import CROSSING, PART_RELEASE, RELEASE_PARTS

    graph = defs.resolve_asset_graph()
    crossings = 0
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        for parent in node.parent_keys:
            up, down = graph.get(parent).partitions_def, node.partitions_def
            if up is None or down is None or up.name == down.name:
                continue
            crossings += 1
            mapping = node.assets_def.get_partition_mapping_for_dep(parent)
            assert isinstance(mapping, dg.AllPartitionMapping), (key, parent)
            inputs = [i for i, k in node.assets_def.keys_by_input_name.items() if k == parent]
            for name in inputs:
                spec = node.assets_def.op.ins[name]
                if spec.dagster_type.is_nothing:  # read by the step itself, not loaded
                    continue
                metadata = spec.metadata
                expected = RELEASE_PARTS if down.name == "laion_releases" else PART_RELEASE
                assert metadata.get(CROSSING) == expected, (key, parent)
    assert crossings > 10


@pytest.mark.parametrize(
    "profile, kind, threshold",
    [("paper", "open_clip", 0.82), ("offline", "sentence_transformers", 0.5), ("tiny", "open_clip", 0.0)],
)
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


def test_environment_variables_configure_resources(monkeypatch):
    monkeypatch.setenv("LAIONET_THRESHOLD", "0.3")
    monkeypatch.setenv("LAIONET_BATCH_SIZE", "8")
    monkeypatch.setenv("LAIONET_MIN_CLASSES", "5")
    resources = resources_for("offline", "/tmp/x")
    assert (resources["text_encoder"].threshold, resources["text_encoder"].batch_size) == (0.3, 8)
    assert resources["quality_gates"].min_covered_classes == 5


def test_encoder_kind_without_model_is_an_error(monkeypatch):
    monkeypatch.setenv("LAIONET_TEXT_ENCODER", "open_clip")
    with pytest.raises(ValueError, match="without LAIONET_TEXT_MODEL"):
        resources_for("offline", "/tmp/x")


def test_launchpad_run_config_overrides_resources(tmp_path):
    """What the UI's launchpad sends: resource config in run config beats the profile's."""
    import dagster as dg

    from laionet_assets.resources import QualityGates

    seen = {}

    @dg.asset
    def probe(text_encoder: TextEncoderResource, quality_gates: QualityGates) -> None:
        seen.update(
            threshold=text_encoder.threshold,
            model=text_encoder.model,
            gates=quality_gates.min_covered_classes,
        )

    resources = resources_for("tiny", str(tmp_path))
    result = dg.materialize(
        [probe],
        resources=resources,
        run_config={
            "resources": {
                "text_encoder": {"config": {"threshold": 0.7}},
                "quality_gates": {"config": {"min_covered_classes": 42}},
            }
        },
    )
    assert result.success and seen == {"threshold": 0.7, "model": "tiny", "gates": 42}


@pytest.mark.parametrize("value, name", [("k8s", "k8s"), ("celery", "celery"), (None, "multiprocess")])
def test_executor_from_env(monkeypatch, value, name):
    from laionet_assets.executors import executor_from_env

    monkeypatch.setenv("LAIONET_MAX_CONCURRENT", "3")
    monkeypatch.setenv("LAIONET_CELERY_BROKER", "redis://127.0.0.1:1/0")
    if value:
        monkeypatch.setenv("LAIONET_EXECUTOR", value)
    executor = executor_from_env()
    assert executor.name == name
    if value == "celery":  # the settings' broker, and the backend defaults to it
        config = executor.config_schema.resolve_config({}).value["config"]
        assert (config["broker"], config["backend"]) == ("redis://127.0.0.1:1/0",) * 2


def test_an_unknown_executor_is_refused(monkeypatch):
    from laionet_assets.executors import executor_from_env

    monkeypatch.setenv("LAIONET_EXECUTOR", "bogus")
    with pytest.raises(
        ValueError, match="LAIONET_EXECUTOR=.bogus. is not one of multiprocess, in_process, k8s, celery"
    ):
        executor_from_env()


def test_an_unreachable_broker_is_named(monkeypatch):
    import socket

    from laionet_assets.executors import BrokerUnreachable, check_broker

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    with pytest.raises(
        BrokerUnreachable, match=rf"Celery broker redis://:\*\*@127.0.0.1:{port}/0 is unreachable"
    ):
        check_broker(f"redis://:secret@127.0.0.1:{port}/0", timeout=1)


def test_gpu_steps_request_a_gpu_on_kubernetes():
    import json

    from laionet_assets.defs.creation.assets import text_sims

    config = json.loads(text_sims.op.tags["dagster-k8s/config"])  # Dagster keeps tag values as strings
    assert config["container_config"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert text_sims.op.pool == "gpu"


def test_asset_configs_reject_bad_values():
    from laionet_assets.defs.creation.assets import LemmaMatchConfig
    from laionet_assets.defs.creation.selection import LaionetConfig
    from laionet_assets.resources import QualityGates

    with pytest.raises(ValidationError, match="unknown matching mode 'fuzzy'"):
        LemmaMatchConfig(mode="fuzzy")
    with pytest.raises(ValidationError, match="unknown NSFW policy 'x'"):
        LaionetConfig(nsfw_policy="x")
    with pytest.raises(ValidationError, match="outside"):
        LaionetConfig(threshold=-2.0)
    with pytest.raises(ValidationError, match="unknown NSFW policy 'y'"):
        QualityGates(nsfw_policy_required="y")
    from laionet_assets.defs.text_only.text_matched import TextMatchedConfig, TextMatchedImagesConfig

    with pytest.raises(ValidationError, match="outside"):
        TextMatchedConfig(thresholds=[0.6, 1.5])
    with pytest.raises(ValidationError, match="cap must be at least 2"):
        TextMatchedConfig(cap=1)
    with pytest.raises(ValidationError, match="outside"):
        TextMatchedImagesConfig(download_above=-3)
    assert TextMatchedConfig(thresholds=[0.8, 0.6, 0.8]).thresholds == [0.6, 0.8]


def test_loading_the_code_location_imports_no_model_library():
    """Every step process loads the definitions; timm alone costs ~15 s there (torch._dynamo
    through torchvision), so only the steps that run models may import it."""
    import subprocess
    import sys

    code = (
        "import sys, laionet_assets.definitions; "
        "print(sorted(m for m in ('timm', 'torch', 'open_clip', 'torchvision') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_model_architecture_names_are_checked_where_the_models_load(monkeypatch):
    monkeypatch.setenv("LAIONET_MODELS", "timm:resnet5O,clip:tiny")
    monkeypatch.setenv("LAIONET_IMAGE_ENCODER", "ViT-Q-99")
    resources = resources_for("tiny", "/tmp/x")  # the code location still loads
    with pytest.raises(ValueError, match="timm has no architecture 'resnet5O'"):
        resources["image_models"].specs()
    with pytest.raises(ValueError, match="open_clip has no architecture 'ViT-Q-99'"):
        resources["image_encoder"].load()
    with pytest.raises(ValueError, match="timm has no architecture"):
        check_model_names(resources)
