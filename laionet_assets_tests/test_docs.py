"""The manual: it builds strictly, its reference pages hold every setting, asset and figure of the
code, and the README stays a front door that speaks of the product."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from laionet_assets.core.releases.layouts import RELEASE_LAYOUTS
from laionet_assets.core.report.catalogue import FIGURES
from laionet_assets.graph import asset_plan
from laionet_assets.settings import SETTINGS
from laionet_assets.testing.fixtures import REPO

# Words of how the project was made rather than what it is (spelled in pieces so this file passes).
HISTORY = re.compile(
    "|".join(
        [r"\b(issue|issues) [0-9]+", "issue" + "'s", "the " + "lent", "lent " + "(GPU|H100|machine)"]
        + ["DESIGN" + r"\.md", r"\bsession" + " [0-9]"]
    )
)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    mkdocs = Path(sys.executable).with_name("mkdocs")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [str(mkdocs), "build", "--strict", "-q", "-d", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_the_settings_reference_lists_every_setting(site):
    page = (site / "reference" / "settings" / "index.html").read_text()
    for s in SETTINGS:
        assert f"<code>{s.name}</code>" in page, s.name
        if s.option:
            assert f"<code>{s.option}</code>" in page, s.option


def test_the_assets_reference_lists_every_asset_and_the_figures_page_every_figure(site):
    assets = (site / "reference" / "assets" / "index.html").read_text()
    assert all(f"<code>{name}</code>" in assets for name in asset_plan().order)
    figures = (site / "reference" / "figures" / "index.html").read_text()
    assert all(f.file in figures for f in FIGURES.values())


def test_every_release_layout_has_its_page(site):
    for name, layout in RELEASE_LAYOUTS.items():
        page = (site / "releases" / name / "index.html").read_text()
        assert f"<code>{name}</code>" in page and all(f"<code>{key}</code>" in page for key in layout.columns)


def test_the_output_layout_says_where_laionet_is(site):
    page = (site / "output" / "index.html").read_text()
    assert "assets/laionet_clean/&lt;release&gt;.parquet" in page
    for name in asset_plan().partitioned:
        assert f"assets/{name}/&lt;release&gt;-&lt;part&gt;.parquet" in page


def test_the_scale_page_states_what_each_release_needs_from_the_measurements(site):
    import json

    measured = json.loads((REPO / "benchmarks" / "results.json").read_text())["bench_fanin"]
    page = (site / "scale" / "index.html").read_text()
    for parts, row in measured["laionet"].items():
        assert f"<td>{parts}</td>" in page and f"{row['step']['peak_gib']} GiB" in page
    assert "LAION-400M" in page and "LAION-2B-en" in page and "Extrapolated" in page


def test_the_readme_is_a_front_door():
    readme = (REPO / "README.md").read_text()
    assert len(readme.encode()) <= 15_000
    assert "laionet run --release" in readme and "laionet_clean/laion400m.parquet" in readme
    for link in re.findall(r"\]\(([^)#]+)\)", readme):
        if "://" not in link:
            assert (REPO / link).exists(), link


def test_product_text_speaks_of_the_product():
    roots = ["README.md", "docs", "laionet_assets", "benchmarks", "scripts", "laionet_assets_tests"]
    found = []
    for root in roots:
        for path in [REPO / root] if (REPO / root).is_file() else (REPO / root).rglob("*"):
            if path.suffix in (".py", ".md", ".sh", ".json"):
                for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                    if HISTORY.search(line) and "github.com" not in line and "LAION-Face" not in line:
                        found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()[:80]}")
    assert found == []
