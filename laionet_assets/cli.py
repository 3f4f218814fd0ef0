"""``laionet``: run LAIONet creation on a LAION release, the bundled demo, or the Dagster UI.

    laionet demo                          # bundled sample release, web and image folders, offline profile
    laionet run --release PATH [--name NAME] [--profile P] [--select ASSETS] [--home DIR]
    laionet ui [--home DIR] [--port 3000]
    laionet recover [--home DIR]          # after a killed run: mark it failed, free its gpu slot

Runs go through a persistent Dagster instance under ``<home>/dagster`` so they show in the UI.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from laionet_assets.core.laionet import NSFW_POLICIES
from laionet_assets.core.matching import MODES
from laionet_assets.profiles import PROFILES

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_RELEASE = REPO_ROOT / "data" / "sample" / "laion_sample"
PARTITIONED = ("lemma_matches", "text_sims", "laion_caption_index")
UNPARTITIONED_UPSTREAM = ("imagenet_synsets",)
UNPARTITIONED_DOWNSTREAM = ("laionet_clean", "laionet_top50", "laionet_images", "laionet_final", "imagenet_val",
                            "imagenetv2_a", "imagenetv2_b", "imagenetv2_c", "model_predictions", "accuracy",
                            "image_embeddings", "intra_class_stats", "v2_comparison", "image_synset_similarity",
                            "imagenet_captions", "caption_synset_similarity", "captions_nearest_laion", "text_matched_images",
                            "text_matched_intra_class", "report")
ALL_ASSETS = UNPARTITIONED_UPSTREAM + PARTITIONED + UNPARTITIONED_DOWNSTREAM
# Assets computed together (one multi-asset): selecting one selects all.
TOGETHER = (("laionet_clean", "laionet_top50"), ("imagenet_val", "imagenetv2_a", "imagenetv2_b", "imagenetv2_c"))
SAMPLE = REPO_ROOT / "data" / "sample"
SAMPLE_WEB_PREFIX = "https://images.example.org/"


def root_error_message(error) -> str:
    """The user's own message (file, column, row) under Dagster's step-failure wrappers."""
    while (error.cls_name or "").startswith("Dagster") and getattr(error, "cause", None) is not None:
        error = error.cause
    return error.message.strip().splitlines()[-1]


def prepare_home(home: str | None, profile: str | None) -> Path:
    """Resolve the home folder, write its dagster.yaml, and export the variables the code location reads."""
    root = Path(home or os.environ.get("LAIONET_HOME") or "data").resolve()
    dagster_home = root / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    template = REPO_ROOT / "dagster.yaml"
    if not config.exists() and template.exists():
        shutil.copyfile(template, config)
    os.environ["LAIONET_HOME"] = str(root)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    if profile:
        os.environ["LAIONET_PROFILE"] = profile
    return root


def parse_selection(select: str | None) -> list[str]:
    if not select:
        return list(ALL_ASSETS)
    chosen = [s.strip() for s in select.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in ALL_ASSETS]
    if unknown:
        raise SystemExit(f"laionet: unknown asset(s) {unknown}; choose from {', '.join(ALL_ASSETS)}")
    for group in TOGETHER:
        if any(a in chosen for a in group):
            chosen += [a for a in group if a not in chosen]
    return [a for a in ALL_ASSETS if a in chosen]


def quiet_libraries() -> None:
    """Keep the CLI's output to its own summary: library warnings and download bars go."""
    import warnings

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    warnings.filterwarnings("ignore", message=".*currently in (beta|preview).*")
    warnings.filterwarnings("ignore", message="The multilingual functions are not available")
    # lemma_matches (1 part per run) and text_sims (8) in one per-part run: Dagster says it uses 1.
    warnings.filterwarnings("ignore", message=".*varying BackfillPolicies.*")


ENCODER_FLAGS = {  # CLI flag -> environment variable read by laionet_assets.profiles
    "text_encoder": "LAIONET_TEXT_ENCODER", "text_model": "LAIONET_TEXT_MODEL", "pretrained": "LAIONET_TEXT_PRETRAINED",
    "threshold": "LAIONET_THRESHOLD", "device": "LAIONET_DEVICE", "batch_size": "LAIONET_BATCH_SIZE",
    "min_classes": "LAIONET_MIN_CLASSES", "models": "LAIONET_MODELS", "image_encoder": "LAIONET_IMAGE_ENCODER",
    "image_pretrained": "LAIONET_IMAGE_PRETRAINED", "imagenet_val": "LAIONET_IMAGENET_VAL",
    "imagenetv2_a": "LAIONET_IMAGENETV2_A", "imagenetv2_b": "LAIONET_IMAGENETV2_B", "imagenetv2_c": "LAIONET_IMAGENETV2_C",
    "download_concurrency": "LAIONET_DOWNLOAD_CONCURRENCY", "ocr": "LAIONET_OCR",
    "imagenet_captions": "LAIONET_IMAGENET_CAPTIONS",
}


def op_config(names: list[str], knobs: dict) -> dict:
    """Run config for the asset configs the CLI exposes, for the ops in this run only."""
    ops = {}
    if "lemma_matches" in names and knobs.get("mode"):
        ops["lemma_matches"] = {"config": {"mode": knobs["mode"]}}
    laionet = {k: knobs[k] for k in ("nsfw_policy", "top_k") if knobs.get(k) is not None}
    if "laionet_clean" in names and laionet:
        ops["laionet"] = {"config": laionet}
    return {"ops": ops} if ops else {}


class SampleWeb:
    """The demo's stand-in for the web: a static server on 127.0.0.1 over data/sample/web,
    which the downloader reaches through a URL rewrite of the sample release's host."""

    def __enter__(self):
        import functools
        import threading
        from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

        class Quiet(SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        handler = functools.partial(Quiet, directory=str(SAMPLE / "web"))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return {SAMPLE_WEB_PREFIX: f"http://127.0.0.1:{self.httpd.server_address[1]}/"}

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def run_demo(profile: str, select: str | None, home: str | None, knobs: dict) -> int:
    """The bundled sample: its release, its web (served locally) and its image folders."""
    for var, folder in (("LAIONET_IMAGENET_VAL", "imagenet_val"), ("LAIONET_IMAGENETV2_A", "imagenetv2_a"),
                        ("LAIONET_IMAGENETV2_B", "imagenetv2_b"), ("LAIONET_IMAGENETV2_C", "imagenetv2_c"),
                        ("LAIONET_IMAGENET_CAPTIONS", "imagenet_captions.json")):
        os.environ.setdefault(var, str(SAMPLE / folder))
    with SampleWeb() as rewrites:
        return run_release(str(SAMPLE_RELEASE), "sample", profile, select, home, knobs, url_rewrites=rewrites)


def run_release(release: str, name: str | None, profile: str | None, select: str | None, home: str | None,
                knobs: dict | None = None, url_rewrites: dict | None = None) -> int:
    knobs = knobs or {}
    root = prepare_home(home, profile)
    selection = parse_selection(select)
    for flag, var in ENCODER_FLAGS.items():
        if knobs.get(flag) is not None:
            os.environ[var] = str(knobs[flag])
    quiet_libraries()
    from laionet_assets.profiles import current_profile, resources_for

    try:
        resources = resources_for(current_profile(), str(root))
        if url_rewrites:
            from laionet_assets.profiles import with_defaults
            from laionet_assets.resources import ImageDownloader

            values = {f: getattr(resources["downloader"], f) for f in ImageDownloader.model_fields}
            resources["downloader"] = with_defaults(ImageDownloader, **{**values, "url_rewrites": url_rewrites})
    except ValueError as exc:  # pydantic's ValidationError is a ValueError too
        errors = getattr(exc, "errors", None)
        message = "; ".join(e["msg"].removeprefix("Value error, ") for e in errors()) if callable(errors) else str(exc)
        print(f"laionet: invalid configuration: {message}", file=sys.stderr)
        return 2
    import dagster as dg

    from laionet_assets.core.laion import BadPartError
    from laionet_assets.core.releases import ReleaseRegistry
    from laionet_assets.definitions import all_assets
    from laionet_assets.checks import laionet_checks
    from laionet_assets.partitions import laion_parts

    try:
        keys = ReleaseRegistry(root).register(release, name)
    except BadPartError as exc:
        print(f"laionet: {exc}", file=sys.stderr)
        return 2
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(laion_parts.name, keys)

    definitions = [*all_assets, *laionet_checks]
    print(f"release {release}: {len(keys)} part(s) registered as partitions {keys}; profile {current_profile()}; home {root}")
    failures: list[str] = []
    log_level = os.environ.get("LAIONET_LOG_LEVEL", "WARNING")

    def materialize(names: list[str], partition_key: str | None = None) -> None:
        if not names:
            return
        started = time.perf_counter()
        result = dg.materialize(definitions, selection=names, partition_key=partition_key, instance=instance,
                                resources=resources, raise_on_error=False, tags={"laionet/cli": "run"},
                                run_config={"loggers": {"console": {"config": {"log_level": log_level}}}, **op_config(names, knobs)})
        label = f"{','.join(names)}" + (f" [{partition_key}]" if partition_key else "")
        status = "ok" if result.success else "FAILED"
        print(f"  {label}: {status} in {time.perf_counter() - started:.1f} s (run {result.run_id[:8]})")
        if not result.success:
            for event in result.all_events:
                if event.is_step_failure:
                    print(f"    {event.step_key}: {root_error_message(event.step_failure_data.error)}")
            failures.append(label)

    needs_synsets = any(a in selection for a in (*PARTITIONED, *UNPARTITIONED_DOWNSTREAM))
    if needs_synsets and "imagenet_synsets" not in selection and not (root / "assets" / "imagenet_synsets.parquet").exists():
        print("  imagenet_synsets has no output under this home yet: materialising it first")
        selection.insert(0, "imagenet_synsets")
    materialize([a for a in UNPARTITIONED_UPSTREAM if a in selection])
    for key in keys:
        materialize([a for a in PARTITIONED if a in selection], key)
    materialize([a for a in UNPARTITIONED_DOWNSTREAM if a in selection])
    import polars as pl

    for asset, label in (("laionet_clean", "LAIONet"), ("laionet_final", "LAIONet with images, after the OCR filter")):
        path = root / "assets" / f"{asset}.parquet"
        if asset in selection and path.exists():
            frame = pl.read_parquet(path, columns=["wnid"])
            print(f"{label}: {frame.height:,} rows over {frame['wnid'].n_unique()} ImageNet classes")
    nearest = root / "assets" / "captions_nearest_laion.parquet"
    if "captions_nearest_laion" in selection and nearest.exists():
        matches = pl.read_parquet(nearest, columns=["wnid", "selected", "threshold"]).filter("selected")
        if matches.height:
            print(f"LAION found by caption search alone (nearest to an ImageNet-Captions text, similarity > "
                  f"{matches['threshold'][0]}): {matches.height:,} rows over {matches['wnid'].n_unique()} ImageNet classes")
    report = root / "reports" / "report.html"
    if "report" in selection and report.exists():
        print(f"report: {report}")
    print(f"outputs: {root / 'assets'}  figures: {root / 'reports'}")
    print(f"Dagster UI on these runs: laionet ui --home {root}   (then open http://127.0.0.1:3000)")
    if failures:
        print(f"{len(failures)} run(s) failed: {failures}", file=sys.stderr)
        return 1
    return 0


def recover(home: str | None) -> int:
    prepare_home(home, None)
    import dagster as dg

    from laionet_assets.recovery import recover_dead_runs

    with dg.DagsterInstance.get() as instance:
        recovered = recover_dead_runs(instance)
    print(f"marked {len(recovered)} dead run(s) failed and freed their pool slots: {recovered}")
    return 0


def ui(home: str | None, profile: str | None, host: str, port: int) -> int:
    prepare_home(home, profile)
    exe = Path(sys.executable).with_name("dagster")
    args = [str(exe), "dev", "-m", "laionet_assets.definitions", "-h", host, "-p", str(port)]
    print(f"Dagster UI: http://{host}:{port}  (DAGSTER_HOME={os.environ['DAGSTER_HOME']})")
    os.execv(args[0], args)
    return 0  # pragma: no cover


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="laionet", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", help="output and Dagster instance folder (default: $LAIONET_HOME or ./data)")
    common.add_argument("--profile", choices=PROFILES, help="model profile (default: $LAIONET_PROFILE or offline)")
    knobs = argparse.ArgumentParser(add_help=False)
    group = knobs.add_argument_group("pipeline settings (default: the profile's; also LAIONET_* environment variables)")
    group.add_argument("--mode", choices=MODES, help="lemma matching mode (default paper)")
    group.add_argument("--threshold", type=float, help="keep text_similarity > THRESHOLD (CLIP paper: 0.82)")
    group.add_argument("--nsfw-policy", choices=NSFW_POLICIES)
    group.add_argument("--top-k", type=int, help="rows per class in laionet_top50 (default 50)")
    group.add_argument("--text-encoder", choices=("open_clip", "sentence_transformers"))
    group.add_argument("--text-model", help="open_clip architecture, sentence-transformers name, or local folder")
    group.add_argument("--pretrained", help="open_clip weights tag or local checkpoint file")
    group.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    group.add_argument("--batch-size", type=int)
    group.add_argument("--min-classes", type=int, help="class-coverage check minimum")
    group.add_argument("--models", help="comma-separated image classifiers, e.g. timm:resnet50,clip:ViT-B-32:openai,"
                                        "torchscript:model.pt:classes.txt")
    group.add_argument("--image-encoder", help="CLIP architecture for intra-class similarity (e.g. ViT-B-32, tiny)")
    group.add_argument("--image-pretrained", help="open_clip weights tag or local checkpoint for the image encoder")
    group.add_argument("--imagenet-val", help="ImageNet val folder (<wnid>/<file>)")
    for version in "abc":
        group.add_argument(f"--imagenetv2-{version}", help=f"ImageNetV2 version {version} folder (<class index>/<file>)")
    group.add_argument("--imagenet-captions", help="ImageNet-Captions JSON file (path or fsspec URL)")
    group.add_argument("--download-concurrency", type=int, help="concurrent image downloads")
    group.add_argument("--ocr", choices=("true", "false"), help="the OCR filter (default true)")
    demo = sub.add_parser("demo", parents=[common, knobs], help="materialise every asset on the bundled sample release (offline)")
    demo.add_argument("--select", help="comma-separated assets (default: all)")
    run = sub.add_parser("run", parents=[common, knobs], help="register a release's parts as partitions and materialise")
    run.add_argument("--release", required=True, help="folder of LAION Parquet parts, one part file, or a file:// URL")
    run.add_argument("--name", help="release name in partition keys (default: the folder's name)")
    run.add_argument("--select", help=f"comma-separated assets (default: all of {', '.join(ALL_ASSETS)})")
    serve = sub.add_parser("ui", parents=[common], help="start the Dagster UI (webserver and daemon) on the instance")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    sub.add_parser("recover", parents=[common], help="mark runs whose process died as failed and free their pool slots")
    args = parser.parse_args(argv)
    settings = {k: getattr(args, k, None) for k in (*ENCODER_FLAGS, "mode", "nsfw_policy", "top_k")}
    if args.command == "demo":
        return run_demo(args.profile or os.environ.get("LAIONET_PROFILE") or "offline", args.select, args.home, settings)
    if args.command == "run":
        return run_release(args.release, args.name, args.profile, args.select, args.home, settings)
    if args.command == "recover":
        return recover(args.home)
    return ui(args.home, args.profile, args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
