"""MkDocs hooks: the reference pages, written from the code's own declarations when the site is
built, so they cannot drift from it: every setting (``laionet_assets.settings``), every asset and
check (the code location), every figure (``core.report.catalogue``), one page per release layout
(``core.releases.layouts``) and the measured benchmarks (``benchmarks/results*.json``)."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def settings_page() -> str:
    from laionet_assets import settings
    from laionet_assets.profiles import PROFILE_RECORDS, RESOURCE_CLASSES

    profiles = list(PROFILE_RECORDS)
    values = {p: PROFILE_RECORDS[p].values() for p in profiles}
    rows = []
    for s in settings.SETTINGS:
        if s.scope == settings.RESOURCE:
            target = RESOURCE_CLASSES[s.targets[0]].model_fields[s.field]
            default = target.default
            sets = ", ".join(f"`{t}.{s.field}`" for t in s.targets)
        elif s.scope == settings.ASSET_CONFIG:
            default, sets = None, ", ".join(f"`{t}` config `{s.field}`" for t in s.targets)
        else:
            default, sets = s.default, "the process"
        by_profile = "; ".join(f"{p}: `{values[p][s.name]}`" for p in profiles if s.name in values[p])
        rows.append(
            [
                f"`{s.name}`",
                f"`{s.option}`" if s.option else "",
                f"`{s.env}`" if s.env else "launchpad",
                s.type.__name__,
                ", ".join(f"`{c}`" for c in s.choices) if s.choices else "",
                f"`{default!r}`" if default not in (None, "") else "",
                by_profile,
                sets,
                s.help,
            ]
        )
    return (
        "# Settings\n\nEvery knob, from the settings table (`laionet_assets/settings.py`). "
        "Precedence, lowest first: the default, the profile, the `LAIONET_*` variable, the flag, "
        "the launchpad's run config.\n\n"
        + _table(
            ["setting", "flag", "variable", "type", "choices", "default", "profiles", "sets", "what it does"],
            rows,
        )
    )


def assets_page() -> str:
    from laionet_assets.core.report.catalogue import FIGURES
    from laionet_assets.definitions import defs
    from laionet_assets.graph import asset_plan

    plan = asset_plan()
    graph = defs.resolve_asset_graph()
    checks: dict[str, list[str]] = {}
    for check in defs.asset_checks or []:
        for key in check.check_keys:
            checks.setdefault(key.asset_key.to_user_string(), []).append(key.name)
    figures: dict[str, list[str]] = {}
    for f in FIGURES.values():
        figures.setdefault(f.asset, []).append(f"`{f.file}`")
    rows = []
    for name in plan.order:
        node = graph.get(next(k for k in graph.get_all_asset_keys() if k.to_user_string() == name))
        description = (node.description or "").strip().split("\n\n")[0]
        rows.append(
            [
                f"`{name}`",
                node.group_name,
                "per part" if name in plan.partitioned else "",
                description,
                ", ".join(f"`{c}`" for c in checks.get(name, [])),
                ", ".join(figures.get(name, [])),
            ]
        )
    together = "\n".join(f"- {', '.join(f'`{a}`' for a in group)}" for group in plan.together)
    return (
        "# Assets\n\nEvery asset of the code location in run order, from its own declaration "
        "(`laionet_assets/defs/`). *per part*: one partition per release part (`laion_parts`).\n\n"
        + _table(["asset", "group", "partitioned", "what it holds", "checks", "figures"], rows)
        + "\nComputed together (one multi-asset; selecting one selects all):\n\n"
        + together
        + "\n"
    )


def figures_page() -> str:
    from laionet_assets.core.report.catalogue import FIGURES

    rows = [[f"`{f.file}`", f.paper or "", f.title, f"`{f.asset}`"] for f in FIGURES.values()]
    return (
        "# Figures\n\nEvery figure, as `core/report/catalogue.py` declares it, in the report's order. "
        "Each is a PNG under `<home>/reports/`, shown as a picture in the asset's metadata in the UI "
        "(a thumbnail, the file's path under it) and in "
        "`report.html`.\n\n" + _table(["file", "paper", "what it shows", "drawn by"], rows)
    )


def columns_page() -> str:
    from laionet_assets.core.columns import COLUMNS, PATTERNS

    rows = [[f"`{name}`", text] for name, text in COLUMNS.items()]
    patterns = [[f"`{pattern}`", template] for pattern, template in PATTERNS]
    return (
        "# Columns\n\nWhat each column of the tables means, as `core/columns.py` declares it. A name "
        "means the same thing in every table that has it; the UI shows these descriptions in each "
        "asset's Columns tab. A column ending in `_low` or `_high` is the 95% interval's bound of the "
        "column it extends.\n\n"
        + _table(["column", "what it holds"], rows)
        + "\nColumns named after a model or a side:\n\n"
        + _table(["name", "what it holds"], patterns)
    )


def layout_page(name: str) -> str:
    from laionet_assets.core.releases.layouts import RELEASE_LAYOUTS

    layout = RELEASE_LAYOUTS[name]
    columns = [
        [f"`{key}`", ", ".join(f"`{c}`" for c in (src if isinstance(src, tuple) else (src,)))]
        for key, src in layout.columns.items()
    ]
    embeddings = [
        [e.kind, f"`{e.model}`", e.dim, ", ".join(f"`{p}`" for p in e.paths)] for e in layout.embeddings
    ]
    sample = ROOT / "data" / "sample" / "releases" / name
    text = [
        f"# {layout.release}\n",
        f"Layout name: `{name}` (`--layout {name}`); parts are {layout.reader.upper()} files"
        + (f" named like `{layout.file_pattern}`" if layout.file_pattern else "")
        + f". Safety signal: **{layout.safety}**"
        + (
            f" (the publisher's cut: unsafe score ≤ {layout.max_unsafe_score})"
            if layout.max_unsafe_score
            else ""
        )
        + ".\n",
    ]
    if layout.note:
        text.append(f"\n{layout.note}\n")
    text.append("\n## Columns\n\nThe canonical part schema, and the release's column each comes from:\n\n")
    text.append(_table(["canonical", "release column"], columns))
    if layout.optional:
        text.append(
            "\nOptional (null when a part lacks them): "
            + ", ".join(f"`{c}`" for c in sorted(layout.optional))
            + ".\n"
        )
    if embeddings:
        text.append(
            "\n## Shipped embeddings\n\nRead instead of encoding when the configured model matches:\n\n"
        )
        text.append(_table(["kind", "model", "dim", "file beside each part"], embeddings))
    if sample.is_dir():
        text.append(
            f"\n## Try it\n\nA small sample of this layout is bundled:\n\n```bash\n"
            f"laionet run --release data/sample/releases/{name} --profile offline"
            + (" --nsfw-policy none --nsfw-policy-required none" if layout.safety == "none" else "")
            + "\n```\n"
        )
    return "".join(text)


def _flatten(value, prefix: str = "") -> list[tuple[str, object]]:
    if isinstance(value, dict):
        return [kv for k, v in value.items() for kv in _flatten(v, f"{prefix}{k}." if prefix or k else "")]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [kv for i, v in enumerate(value) for kv in _flatten(v, f"{prefix}{i}.")]
    return [(prefix.rstrip("."), value)]


def benchmarks_page() -> str:
    import ast

    text = [
        "# Measured\n\nEvery figure below is read from `benchmarks/results.json` (CPU: a 2-core x86-64 "
        "machine with 24 GiB, the CI machine's size) and `benchmarks/results_gpu.json` (GPU: the card "
        "each entry names), written by `make bench` and the GPU script. Each benchmark compares with a "
        "baseline measured in the same run.\n"
    ]
    for file, title in (("results.json", "CPU"), ("results_gpu.json", "GPU")):
        results = json.loads((ROOT / "benchmarks" / file).read_text())
        text.append(f"\n## {title} (`benchmarks/{file}`)\n")
        for name, value in results.items():
            source = ROOT / "benchmarks" / f"{name}.py"
            doc = ""
            if source.exists():
                doc = (ast.get_docstring(ast.parse(source.read_text())) or "").split("\n\n")[0]
            if not isinstance(value, dict):
                text.append(f"\n- `{name}`: {_cell(value)}\n")
                continue
            text.append(f"\n### `{name}`\n\n{doc}\n\n" if doc else f"\n### `{name}`\n\n")
            text.append(_table(["measure", "value"], [[f"`{k}`", v] for k, v in _flatten(value)]))
    return "".join(text)


# The releases the scale page sizes: (name, parts, captions per part), and a LAION-400M part's
# single-label candidates per caption, measured on the simulated parts of bench_fanin.
SCALE_RELEASES = (("LAION-400M", 32, 12.9e6), ("LAION-2B-en", 128, 18e6))


def scale_page() -> str:
    """What the steps that gather every part need, from ``bench_fanin`` in ``results.json``."""
    results = json.loads((ROOT / "benchmarks" / "results.json").read_text()).get("bench_fanin")
    text = [
        "# At scale\n\nThe per-part steps (`lemma_matches`, `text_sims`, the caption index, the image "
        "side) run one part at a time, on as many machines as there are. The steps that gather every "
        "part, `laionet` (`laionet_clean`, `laionet_top50`, the coverage curve and the class "
        "frequencies), `laionet_sweep_images` and `captions_nearest_laion`, read the parts lazily "
        "(`core/text/candidates.py`): one part at a time, only the columns they use, the threshold "
        "and the safety policy applied before the captions and URLs are read, and those read for "
        "the kept rows only. What they keep of every candidate is its similarity (4 bytes, for "
        "Fig. 3 and the sweep's quantiles) and its class's running maximum. On an `s3://` home the "
        "parts are read by polars' own object-store reader; other fsspec homes through a pyarrow "
        "dataset, one row group at a time. The other steps that gather parts (`laionet_final`, "
        "`model_predictions`, `image_embeddings` by part) gather LAIONet's own rows, a few percent "
        "of the candidates.\n"
    ]
    if not results:
        return "".join(text)
    rows = []
    for parts, row in results["laionet"].items():
        cells = [parts, row["candidates_millions"]]
        for mode in ("step", "lazy", "eager"):
            measured = row.get(mode, {})
            cells.append(
                f"{measured['peak_gib']} GiB, {measured['seconds']} s"
                if "peak_gib" in measured
                else "not run"
            )
        rows.append(cells)
    per_million = results["step_gib_per_million_candidates"]
    fixed = results["step_gib_fixed"]
    text.append(
        f"\n## Measured\n\n`benchmarks/bench_fanin.py` on {results['machine']}: generated parts of a "
        f"LAION-400M part's size ({results['candidates_per_part']:,} single-label candidates of 12.9M "
        f"captions), threshold {results['threshold']}. Peak resident memory and seconds of the "
        "`laionet` step through Dagster (`step`), of its work as plain functions (`lazy`), and of "
        "the eager path, which loads every part's whole tables and joins them (`eager`, measured "
        "while it fits the machine):\n\n"
    )
    text.append(_table(["parts", "candidates (M)", "step", "lazy", "eager"], rows))
    ends = [
        results["laionet"][k] for k in (min(results["laionet"], key=int), max(results["laionet"], key=int))
    ]
    growth = (ends[1]["step"]["peak_gib"] - ends[0]["step"]["peak_gib"]) / max(
        ends[1]["candidates_millions"] - ends[0]["candidates_millions"], 1e-9
    )
    text.append(
        f"\nFrom the fewest parts to the most, the step's peak grew {growth:.3f} GiB per million "
        "candidates. "
        f"Fitted: the step needs {fixed} GiB plus {per_million} GiB per million candidates; "
        f"the eager path needed {results.get('eager_gib_fixed')} GiB plus "
        f"{results.get('eager_gib_per_million_candidates')} GiB per million.\n"
    )
    nearest = [
        [parts, row["caption_index_rows_millions"]]
        + [
            f"{row[m]['peak_gib']} GiB, {row[m]['seconds']} s" if "peak_gib" in row.get(m, {}) else "not run"
            for m in ("lazy", "eager")
        ]
        for parts, row in results["captions_nearest_laion_inputs"].items()
    ]
    text.append(
        "\n`captions_nearest_laion` searches the caption index (LanceDB and FAISS, see "
        "[Benchmarks](benchmarks.md)); of its partitioned inputs it reads one column, the encoder "
        "of each indexed part, where the eager path loaded every indexed row and every "
        "`lemma_matches` part:\n\n"
    )
    text.append(_table(["parts", "indexed captions (M)", "reads lazily", "eager"], nearest))
    share = results["candidates_per_part"] / 12.9e6
    eager_fixed, eager_per_million = results["eager_gib_fixed"], results["eager_gib_per_million_candidates"]
    sized = [
        [
            name,
            parts,
            f"{parts * captions / 1e6:,.0f}M",
            f"{parts * captions * share / 1e6:,.0f}M",
            f"{fixed + per_million * parts * captions * share / 1e6:.1f} GiB",
            f"{eager_fixed + eager_per_million * parts * captions * share / 1e6:.0f} GiB",
        ]
        for name, parts, captions in SCALE_RELEASES
    ]
    text.append(
        "\n## What a release needs\n\nExtrapolated from the fitted cost per candidate (measured up to "
        f"{max(int(k) for k in results['laionet'])} parts), with candidates in LAION-400M's proportion "
        f"({share:.1%} of the captions):\n\n"
    )
    text.append(_table(["release", "parts", "captions", "candidates", "the laionet step", "eager"], sized))
    text.append(
        "\nTime grows linearly with the candidates (the table's seconds); the memory left growing is "
        "the candidates' similarities and LAIONet's own rows, which the step writes.\n"
    )
    return "".join(text)


def outputs_page() -> str:
    from laionet_assets.core.report.catalogue import FIGURES
    from laionet_assets.graph import asset_plan

    plan = asset_plan()
    tables = [
        f"  assets/{name}/<release>-<part>.parquet"
        if name in plan.partitioned
        else f"  assets/{name}/<release>.parquet"
        if name in plan.per_release
        else f"  assets/{name}.parquet"
        for name in plan.order
        if name not in plan.on_demand
    ]
    pages = [
        f"  reports/<release>/{file}" if name in plan.per_release else f"  reports/{file}"
        for name, file in plan.pages.items()
    ]
    figures = [
        f"  reports/<release>/{f.file}" if f.asset in plan.per_release else f"  reports/{f.file}"
        for f in FIGURES.values()
    ]
    tree = "\n".join(
        [
            "<home>/                                   # LAIONET_HOME: a folder or an s3:// URL",
            *tables,
            *pages,
            "  reports/<release>/gallery.html  reports/<release>/rating_study_pairs.csv",
            *figures,
            "  exports/<release>/<set>-<format>/       # laionet export (default --out), with its README.md",
            "  images/ab/cd/<sha256>.<ext>             # downloaded images, content-addressed, shared",
            "  lancedb/caption_embeddings__<encoder>.lance  lancedb/image_embeddings__<encoder>.lance",
            "  lancedb/laion_caption_index__<encoder>.lance",
            "  faiss/laion_caption_index__<encoder>/trained.faiss  trained.json   # the shared quantizer",
            "  faiss/laion_caption_index__<encoder>/<part>.faiss .f16 .ids.parquet .part.json",
            "  registry/<partition key>.json           # the part behind a partition: file, layout, columns",
            "  checkpoints/laionet_images/<part>.parquet  # an unfinished download run, to resume",
            "  dagster/                                # the CLI's Dagster instance (a local home)",
            "  vocabularies/<name>/                    # another vocabulary's assets/ and reports/",
        ]
    )
    return (
        "# Output layout\n\nWhere every output lands, from the asset graph itself: a per-part asset "
        "keeps one Parquet file per part in its own folder, an asset computed from one release's "
        "LAIONet one file per release, any other asset one file. `laionet where ASSET [--release "
        "NAME]` prints the files of one asset.\n\n```\n"
        + tree
        + "\n```\n\n**LAIONet of a release is `assets/laionet_clean/<release>.parquet`** (one row "
        "per selected caption: `sample_id, url, text, wnid, text_similarity, …`); with images, the "
        "per-part `assets/laionet_final/<release>-<part>.parquet` files; its report is "
        "`reports/<release>/report.html`.\n\n"
        "Every file is written to a temporary file beside it and renamed (`core/io/atomic.py`): a "
        "reader never sees a partial file and a re-run replaces a partition whole. Images, the "
        "embedding caches and the caption index are keyed by content and shared by every vocabulary "
        "of a home.\n"
    )


def card_page() -> str:
    """An example dataset card, written by the function every export uses (its values are an
    example's, not a measurement)."""
    from laionet_assets.core.export.card import CardFacts, dataset_card

    facts = CardFacts(
        title="LAIONet (laionet) of laion400m",
        set_meaning="LAIONet: LAION's single-label captions most similar to their ImageNet synset's text, "
        "with their images (downloaded, checked, and without the class's name written in them).",
        format="imagefolder",
        release="laion400m",
        parts=[f"laion400m-part-{i:05d}" for i in range(32)],
        folders=["/data/laion400m"],
        vocabulary="imagenet1k",
        classes=1000,
        classes_present=915,
        rows=640_000,
        encoder="open_clip:ViT-B-32:openai",
        threshold=0.82,
        safety_policy="auto (max unsafe score 0.5)",
        ocr_filter="on",
        counts={
            "captions matched to one class (candidates)": 22_000_000,
            "LAIONet (above the threshold, safety policy kept)": 822_000,
            "images asked for": 822_000,
            "LAIONet with images (laionet_final)": 640_000,
            "exported (laionet)": 640_000,
        },
        dropped={
            "below the similarity threshold": 21_000_000,
            "safety policy": 178_000,
            "no image (download failed or refused)": 170_000,
            "synset name in the image's text (OCR)": 12_000,
        },
        fetched_from="2026-11-02 09:14 UTC",
        fetched_to="2026-11-03 21:40 UTC",
        download_ok_share=0.79,
        commands=[
            "laionet run --release /data/laion400m --name laion400m --vocabulary imagenet1k",
            "laionet export --set laionet --release laion400m --format imagefolder --out /data/laionet-if",
        ],
    )
    text = dataset_card(facts)
    return (
        "# An example dataset card\n\nEvery export carries its `README.md`, written by "
        "`core/export/card.py`. This one is written by the same function from an example's values "
        "(not a measured run), so it shows what a card holds:\n\n````markdown\n" + text + "````\n"
    )


def pages() -> dict[str, callable]:
    from laionet_assets.core.releases.layouts import RELEASE_LAYOUTS

    found = {
        "reference/settings.md": settings_page,
        "reference/assets.md": assets_page,
        "reference/figures.md": figures_page,
        "reference/columns.md": columns_page,
        "benchmarks.md": benchmarks_page,
        "scale.md": scale_page,
        "output.md": outputs_page,
        "reference/dataset-card.md": card_page,
    }
    for name in RELEASE_LAYOUTS:
        found[f"releases/{name}.md"] = lambda name=name: layout_page(name)
    return found


def on_config(config):
    """The Releases section: its index, then one page per layout in the table's order.  The
    library warnings of importing the code location are not the site's concern."""
    warnings.simplefilter("ignore")
    from laionet_assets.core.releases.layouts import RELEASE_LAYOUTS

    for i, entry in enumerate(config["nav"]):
        if isinstance(entry, dict) and "Releases" in entry:
            config["nav"][i] = {
                "Releases": [
                    entry["Releases"],
                    *({layout.release: f"releases/{name}.md"} for name, layout in RELEASE_LAYOUTS.items()),
                ]
            }
    return config


def on_files(files, config):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for path, make in pages().items():
        files.append(File.generated(config, path, content=make()))
    return files
