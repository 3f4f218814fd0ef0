"""Every published layout, written file for file as its publisher ships it: detected, read into
the canonical schema, ids mapped back, lemma matches equal to the paper's loop, each safety
policy keeping exactly its rows; and every kind of bad input with an error naming the file."""

import io
import zipfile

import numpy as np
import polars as pl
import pytest

from laionet_assets.core.releases.layouts import RELEASE_LAYOUTS, BadPartError, LayoutError, parse_columns
from laionet_assets.core.releases.read import read_part
from laionet_assets.core.releases.samples import canonical_rows, write_release
from laionet_assets.core.releases.scan import scan_release
from laionet_assets.core.text.matching import match_captions
from laionet_assets.core.text.selection import safety_ok
from laionet_assets.testing.fixtures import SAMPLE_RELEASE
from laionet_assets.testing.reference import paper_reference

ALL = list(RELEASE_LAYOUTS)
# What the release's own id column holds for a row of canonical id i (the layouts' id rules).
ID_IN_FILE = {
    "laion400m": lambda i: str(i),
    "laion5b": lambda i: str(i),
    "laion5b-joined": lambda i: str(i * 2654435761 % 2**61),
    "laion400m-emb": lambda i: str(i).zfill(9),
    "laion5b-emb": lambda i: str(i).zfill(9),
    "relaion5b": lambda i: str(i).zfill(9),
    "datacomp": lambda i: str(i).zfill(32),
    "coyo700m": lambda i: str(i),
}
LABELS = {
    "laion400m-emb": "emb-0000",
    "laion5b-emb": "emb-0000",
    "cc12m": "cc12m",
    "datacomp": "0" * 31 + "1",
}


@pytest.fixture(scope="module")
def rows() -> pl.DataFrame:
    parts = scan_release(str(SAMPLE_RELEASE)).parts
    return canonical_rows(pl.concat([read_part(p.to_json())[0] for p in parts]))


def read_all(folder, **kw):
    scan = scan_release(str(folder), **kw)
    frames = [read_part(p.to_json())[0].with_columns(key=pl.lit(p.key)) for p in scan.parts]
    return scan, pl.concat(frames)


@pytest.mark.parametrize("layout", ALL)
def test_each_layout_is_detected_read_and_matched_like_the_paper(tmp_path, rows, synsets, layout):
    folder = tmp_path / "my-release"
    write_release(layout, folder, rows)
    scan, frame = read_all(folder)
    assert {p.layout for p in scan.parts} == {layout} and not scan.waiting and not scan.unreadable
    first = scan.parts[0]
    assert first.key == f"my-release-{LABELS.get(layout, 'part-00000')}"
    assert first.safety == RELEASE_LAYOUTS[layout].safety
    assert frame["text"].to_list() == rows["text"].to_list()
    assert frame["url"].to_list() == rows["url"].to_list()
    if layout == "cc12m":  # no ids: the partition and the line
        assert frame["sample_id"].to_list() == [f"{first.key}:{i}" for i in range(rows.height)]
    else:
        assert frame["sample_id"].to_list() == [ID_IN_FILE[layout](i) for i in rows["id"]]
    # lemma matches equal the paper's loop on the same captions
    found = match_captions(frame["text"], synsets, "paper")
    expected = paper_reference(frame["text"].to_list(), synsets)
    assert {r: (lem, w) for r, lem, w in found.select("row", "lemmas", "wnids").iter_rows()} == expected
    assert len(expected) > 100
    # the safety signal the layout carries, and the true size (LAION-400M's swap corrected)
    signal = RELEASE_LAYOUTS[layout].safety
    if signal == "tags":
        assert frame["nsfw_tag"].to_list() == rows["nsfw_tag"].to_list()
    if signal == "scores":
        np.testing.assert_allclose(
            frame["unsafe_score"].to_numpy(), rows["unsafe_score"].to_numpy(), atol=1e-6
        )
    if "width" in RELEASE_LAYOUTS[layout].columns:
        assert frame.select("width", "height").equals(rows.select("width", "height"))
    for e in first.embeddings:  # shipped vectors: one per row, of the layout's dimension
        assert e["dim"] in (512, 768) and e["model"].endswith("/openai")


def policy_reference(policy, tag, score, limit):
    """Each policy's rule, the obvious way."""
    if policy == "none":
        return True
    if policy == "require_unlikely":
        return tag == "UNLIKELY"
    if policy == "allow_missing":
        return tag == "UNLIKELY" or (tag is None and score is None)
    if policy == "max_unsafe_score":
        return score is not None and score <= limit
    return tag == "UNLIKELY" if tag is not None else (score is not None and score <= limit)  # auto


@pytest.mark.parametrize("layout", ["laion400m", "laion5b", "coyo700m", "datacomp"])
@pytest.mark.parametrize("policy", ["auto", "require_unlikely", "allow_missing", "max_unsafe_score", "none"])
def test_each_safety_policy_keeps_exactly_its_rows(tmp_path, rows, layout, policy):
    write_release(layout, tmp_path / "r", rows)
    _, frame = read_all(tmp_path / "r")
    for limit in (0.5, 0.1):
        kept = frame.filter(safety_ok(policy, limit))["sample_id"].to_list()
        expected = [
            sid
            for sid, tag, score in frame.select("sample_id", "nsfw_tag", "unsafe_score").iter_rows()
            if policy_reference(policy, tag, score, np.float32(limit))
        ]
        assert kept == expected
    if layout == "laion400m" and policy == "auto":  # auto is the paper's rule on LAION-400M
        assert kept == frame.filter(pl.col("nsfw_tag") == "UNLIKELY")["sample_id"].to_list()
    if layout == "coyo700m" and policy == "max_unsafe_score":  # the larger of the two detectors
        assert (
            frame.filter(pl.col("unsafe_score") > 0.5).height
            == rows.filter(pl.col("unsafe_score") > 0.5).height
        )


def test_language_keeps_what_the_language_column_says(tmp_path, rows):
    write_release("laion5b", tmp_path / "multi", rows)
    part = scan_release(str(tmp_path / "multi")).parts[0].to_json()
    everything, _ = read_part(part)
    english, counts = read_part(part, language="en")
    assert english.height == everything.filter(pl.col("language") == "en").height
    assert counts["dropped_language"] == everything.height - english.height > 0
    write_release("laion400m", tmp_path / "en", rows)
    plain = scan_release(str(tmp_path / "en")).parts[0].to_json()
    _, counts = read_part(plain, language="en")
    assert counts["language_filter"].startswith("not applied")


def test_embeddings_release_waits_for_its_npy_files(tmp_path, rows):
    write_release("laion400m-emb", tmp_path / "emb", rows)
    (tmp_path / "emb" / "img_emb" / "img_emb_1.npy").unlink()
    scan = scan_release(str(tmp_path / "emb"), "laion400m")
    assert [p.key for p in scan.parts] == ["laion400m-emb-0000"]
    [(waiting, missing)] = scan.waiting.items()
    assert waiting.endswith("metadata_1.parquet") and missing[0].endswith("img_emb/img_emb_1.npy")


def test_columns_mapping_reads_any_parquet_or_tsv(tmp_path):
    pl.DataFrame({"alt": ["a lion", "tabby cat"], "link": ["u1", "u2"], "pid": [10, 11]}).write_parquet(
        tmp_path / "mine.parquet"
    )
    with pytest.raises(LayoutError, match=r"mine\.parquet \(columns alt, link, pid\).*--columns"):
        scan_release(str(tmp_path / "mine.parquet"))
    scan, frame = read_all(tmp_path / "mine.parquet", columns="text=alt,url=link,id=pid")
    assert scan.parts[0].layout == "columns" and frame["sample_id"].to_list() == ["10", "11"]
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "x.tsv").write_text("caption\turl\nRed fox in snow\thttp://a\n")
    _, frame = read_all(tmp_path / "t", columns={"text": "caption", "url": "url"})
    assert frame["text"].to_list() == ["Red fox in snow"]
    with pytest.raises(ValueError, match="unknown key 'txt'"):
        parse_columns("txt=alt")
    with pytest.raises(ValueError, match="names no text column"):
        parse_columns("url=link")


def test_layout_override_names_missing_columns(tmp_path, rows):
    write_release("relaion5b", tmp_path / "r", rows)
    with pytest.raises(
        LayoutError, match=r"part-00000-.*layout laion400m needs column\(s\) NSFW, SAMPLE_ID, TEXT, URL"
    ):
        scan_release(str(tmp_path / "r"), layout="laion400m")
    assert {p.layout for p in scan_release(str(tmp_path / "r"), layout="relaion5b").parts} == {"relaion5b"}


# ------------------------------------------------------------------------------------ bad input


def test_mixed_layouts_and_unknown_files_name_the_files(tmp_path, rows):
    write_release("laion400m", tmp_path / "mixed", rows)
    write_release("coyo700m", tmp_path / "mixed", rows, parts=1)
    with pytest.raises(
        LayoutError, match=r"mixes release layouts \(coyo700m: .*part-00000-17b4.*; laion400m: "
    ):
        scan_release(str(tmp_path / "mixed"))


def test_caption_column_of_numbers(tmp_path):
    pl.DataFrame({"url": ["u"], "caption": [3.5], "punsafe": [0.1], "key": ["k"]}).write_parquet(
        tmp_path / "part-00003-x.parquet"
    )
    [part] = scan_release(str(tmp_path)).parts
    with pytest.raises(
        BadPartError, match=r"part-00003-x\.parquet: column 'caption' \(the caption\) has type Float64"
    ):
        read_part(part.to_json())


def test_npy_with_another_row_count(tmp_path, rows):
    write_release("laion400m-emb", tmp_path / "emb", rows)
    np.save(tmp_path / "emb" / "text_emb" / "text_emb_0.npy", np.zeros((5, 512), np.float16))
    part = scan_release(str(tmp_path / "emb")).parts[0]
    with pytest.raises(BadPartError, match=r"text_emb_0\.npy: shape \(5, 512\), expected \(166, 512\)"):
        read_part(part.to_json())


def test_npz_without_the_expected_key(tmp_path, rows):
    write_release("datacomp", tmp_path / "dc", rows, parts=1)
    [npz] = (tmp_path / "dc").glob("*.npz")
    buffer = io.BytesIO()
    np.savez(buffer, b32_txt=np.zeros((rows.height, 512), np.float16))
    npz.write_bytes(buffer.getvalue())
    part = scan_release(str(tmp_path / "dc")).parts[0]
    with pytest.raises(BadPartError, match=r"\.npz: no array 'l14_txt' in this \.npz \(it has b32_txt\)"):
        read_part(part.to_json())
    npz.write_bytes(b"not a zip")
    with pytest.raises(BadPartError, match=r"\.npz: not a readable npz array"):
        read_part(part.to_json())
    assert zipfile  # the .npz is a zip of .npy members


def test_unsafe_score_outside_the_unit_interval_or_null(tmp_path):
    pl.DataFrame(
        {
            "SAMPLE_ID": [1, 2, 3, 4, 5],
            "URL": ["u"] * 5,
            "TEXT": ["a lion", "a tiger", "a cat", "a dog", "a fox"],
            "punsafe": [0.1, 1.5, None, -0.2, float("nan")],
        }
    ).write_parquet(tmp_path / "part-00000-a.parquet")
    frame, counts = read_part(scan_release(str(tmp_path)).parts[0].to_json())
    assert frame["sample_id"].to_list() == ["1", "3"]
    assert counts["dropped_unsafe_score_out_of_range"] == 3
    assert counts["first_unsafe_score_out_of_range_rows"] == [1, 3, 4] and counts["null_unsafe_score"] == 1
    assert frame.filter(safety_ok("auto"))["sample_id"].to_list() == ["1"]  # a null score keeps nothing


def test_tsv_line_without_a_tab(tmp_path):
    (tmp_path / "cc12m.tsv").write_text(
        "http://a/1.jpg\tA lion\nhttp://a/2.jpg no tab\nhttp://a/3.jpg\tA tiger\n"
    )
    frame, counts = read_part(scan_release(str(tmp_path / "cc12m.tsv")).parts[0].to_json())
    assert frame["text"].to_list() == ["A lion", "A tiger"]
    assert counts["dropped_malformed_line"] == 1 and counts["first_malformed_line_rows"] == [1]


def test_unreadable_file_is_skipped_and_named(tmp_path, rows):
    write_release("laion400m", tmp_path / "r", rows)
    (tmp_path / "r" / "part-00009-broken.parquet").write_bytes(b"PAR1 half")
    scan = scan_release(str(tmp_path / "r"))
    assert len(scan.parts) == 2 and list(scan.unreadable)[0].endswith("part-00009-broken.parquet")


def test_two_files_with_one_partition_label(tmp_path, rows):
    write_release("laion400m", tmp_path / "r", rows)
    write_release("laion400m", tmp_path / "r" / "copy", rows, parts=1)
    with pytest.raises(LayoutError, match="would both be partition r-part-00000"):
        scan_release(str(tmp_path / "r"))


def test_a_tsv_is_cc12m_only_in_cc12ms_shape(tmp_path):
    (tmp_path / "people.tsv").write_text("ada\t36\nalan\t41\n")
    with pytest.raises(
        LayoutError, match=r"people.tsv \(a TSV whose first line has 2 field\(s\) .*not CC12M's URL"
    ):
        scan_release(str(tmp_path / "people.tsv"))
    (tmp_path / "headed.tsv").write_text("url\tcaption\nhttp://a/1.jpg\tA lion\n")
    with pytest.raises(LayoutError, match="read it with --columns"):
        scan_release(str(tmp_path / "headed.tsv"))
    with pytest.raises(LayoutError, match="not CC12M's URL"):  # a class table is not a release
        scan_release(str(SAMPLE_RELEASE.parents[2] / "laionet_assets" / "vocabularies" / "cifar100.tsv"))
    (tmp_path / "cc12m.tsv").write_text("https://a/1.jpg\tA lion\n")
    assert scan_release(str(tmp_path / "cc12m.tsv")).parts[0].layout == "cc12m"


def test_a_file_that_is_no_part_is_said_to_be_neither_parquet_nor_tsv(tmp_path):
    np.save(tmp_path / "text_emb_0.npy", np.zeros((2, 4), np.float16))
    with pytest.raises(LayoutError, match=r"neither Parquet nor TSV \(\.npy\)"):
        scan_release(str(tmp_path / "text_emb_0.npy"))


def test_a_part_without_its_caption_column_is_named_and_the_others_run(tmp_path, rows):
    write_release("laion400m", tmp_path / "r", rows)
    bad = tmp_path / "r" / "part-00007-5b54c5d5-bbcf-484d-a2ce-0d6f73df1a36-c000.snappy.parquet"
    pl.read_parquet(next((tmp_path / "r").glob("part-00000*.parquet"))).drop("TEXT").write_parquet(bad)
    scan = scan_release(str(tmp_path / "r"))
    assert len(scan.parts) == 2 and list(scan.unreadable) == [str(bad)]
    problem = scan.unreadable[str(bad)]
    assert (
        "closest to layout laion400m, which needs TEXT: read it with "
        "--columns text=<its column>,url=URL,id=SAMPLE_ID" in problem
    )
    with pytest.raises(LayoutError, match="1 file\\(s\\) match no known release layout: .*which needs TEXT"):
        scan_release(str(tmp_path / "r"), strict=True)  # --strict: the release is refused
    for part in (tmp_path / "r").glob("part-0000[01]*.parquet"):
        part.unlink()
    with pytest.raises(LayoutError, match="match no known release layout: .*which needs TEXT"):
        scan_release(str(tmp_path / "r"))  # no part of the folder matches: nothing to run
