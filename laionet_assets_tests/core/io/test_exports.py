"""CSV exports a spreadsheet opens: cells that would be evaluated are written as text, and the
project's reader gives the cells back as they were."""

import csv

import polars as pl
from hypothesis import example, given
from hypothesis import strategies as st

from laionet_assets.core.io.exports import read_csv_export, spreadsheet_safe, write_csv_export

HOSTILE = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1:A9)", "\tx", "\r=1", "plain", "a=b"]


def test_cells_a_spreadsheet_would_evaluate_are_written_as_text(tmp_path):
    frame = pl.DataFrame({"sample_id": HOSTILE, "n": list(range(len(HOSTILE)))})
    written = spreadsheet_safe(frame)["sample_id"].to_list()
    assert written[:6] == ["'" + c for c in HOSTILE[:6]] and written[6:] == ["plain", "a=b"]
    path = write_csv_export(frame, tmp_path / "pairs.csv")
    with open(path, newline="") as fh:
        first_cells = [row[0] for row in csv.reader(fh)][1:]
    assert len(first_cells) == 8 and not [c for c in first_cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert read_csv_export(path).equals(frame)


@given(st.lists(st.text(st.characters(blacklist_categories=["Cs"]), min_size=1), min_size=1, max_size=20))
@example(["'=1", "''+x", "'", "'plain"])  # cells that look escaped already
def test_what_is_written_is_read_back(tmp_path_factory, cells):
    path = tmp_path_factory.mktemp("csv") / "x.csv"
    frame = pl.DataFrame({"cell": cells, "n": list(range(len(cells)))})
    read = read_csv_export(write_csv_export(frame, path), infer_schema=False)
    assert read["cell"].to_list() == cells
