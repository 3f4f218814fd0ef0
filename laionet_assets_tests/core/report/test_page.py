"""The report's page: what a reader must know first, and numbers said as they are."""

import math

import polars as pl

from laionet_assets.core.report.caveats import SYNTHETIC_MARKER, caveats, random_init, synthetic
from laionet_assets.core.report.page import Section, number, report_page, table


def test_random_models_and_synthetic_inputs_are_said_first(tmp_path):
    (tmp_path / "sample").mkdir()
    (tmp_path / "sample" / SYNTHETIC_MARKER).write_text("made for the demo")
    (tmp_path / "sample" / "web").mkdir()
    made = str(tmp_path / "sample" / "web" / "part-00000.parquet")
    real = str(tmp_path / "laion" / "part-00000.parquet")
    assert random_init(["timm:resnet50", "timm 1.0 mobilenetv3 (random-seed0)", "clip:ViT-B-32"]) == [
        "timm 1.0 mobilenetv3 (random-seed0)"
    ]
    assert synthetic([made, real, "s3://bucket/part.parquet"]) == [made]
    said = caveats(["timm:resnet50:random"], [made, real])
    assert len(said) == 2 and "random weights (timm:resnet50:random)" in said[0] and made in said[1]
    assert caveats(["timm:resnet50"], [real]) == []
    page = report_page(
        "R", "", said, [Section("Accuracy", "What it means.", pl.DataFrame({"x": [1.0]}))], [], []
    )
    assert page.index("role='alert'") < page.index("<nav>") < page.index("Accuracy</h2>")
    assert "role='alert'" not in report_page("R", "", [], [], [], [])


def test_numbers_are_rounded_and_an_undefined_one_is_said_so():
    assert number(math.nan) == "undefined" and number(0.123456) == "0.123" and number(None) == "–"
    html = table(
        pl.DataFrame({"model": ["m"], "top1_equal": [0.5], "top1_equal_low": [0.4], "rho": [math.nan]})
    )
    assert "<th>top-1</th>" in html and "<th>top-1, 95% low</th>" in html and ">undefined<" in html
    assert html.startswith("<div class='scroll'>")
