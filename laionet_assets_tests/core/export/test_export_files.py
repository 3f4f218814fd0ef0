"""The export's rows, images, shards and folder: names, formats, atomicity, reproducibility."""

import hashlib
import io
import tarfile

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from laionet_assets.core.export import folder as folders
from laionet_assets.core.export.card import CARD, MARKER
from laionet_assets.core.export.imagefolder import write_imagefolder
from laionet_assets.core.export.records import escaped, escaped_expr, loadable, records
from laionet_assets.core.export.webdataset import write_shards

CLASSES = pl.DataFrame({"wnid": ["n01", "n02", "n03"], "name": ["tench", "goldfish", "shark"]})


def image_file(path, fmt="JPEG", colour=(200, 30, 30)):
    Image.new("RGB", (16, 12), colour).save(path, fmt)
    return str(path)


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=30))
def test_the_escaping_expression_equals_the_function(text):
    got = pl.select(escaped_expr(pl.lit(text, pl.String))).item()
    assert got == escaped(text) and "." not in got and "/" not in got and got


def test_names_are_unique_with_a_digest_where_escaped_ids_collide(tmp_path):
    rows = pl.DataFrame(
        {
            "sample_id": ["a/b", "a b", "c.d", "e", "e"],
            "wnid": ["n02", "n02", "n01", "n03", "n03"],
            "url": ["u1", "u2", "u3", "u4", "u5"],
            "release_part": ["p0"] * 5,
            "path": ["x.jpg"] * 5,
        }
    )
    table = records(rows, CLASSES)
    assert table["name"].n_unique() == 5
    names = dict(zip(table["url"], table["name"]))
    assert names["u3"] == "c_d"  # unique after escaping: no digest
    for url, sid in (("u1", "a/b"), ("u2", "a b"), ("u4", "e"), ("u5", "e")):
        key = f"{sid}|{url}|p0"
        assert names[url] == f"{escaped(sid)}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
    assert table["label"].to_list() == [0, 1, 1, 2, 2]  # the vocabulary's index, rows in its order
    shuffled = records(rows.sample(fraction=1.0, shuffle=True, seed=1), CLASSES)
    assert shuffled.equals(table)


def test_a_gif_becomes_the_lossless_png_of_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    data, ext = loadable(str(tmp_path / "a.gif"))
    with Image.open(tmp_path / "a.gif") as gif:
        first = np.array(gif.convert("RGB"))
    assert ext == "png" and np.array_equal(np.array(Image.open(io.BytesIO(data)).convert("RGB")), first)
    assert loadable(image_file(tmp_path / "b.jpg")) == (None, "jpg")


def table_of(tmp_path, n=5):
    rows = pl.DataFrame(
        {
            "sample_id": [f"s{i}" for i in range(n)],
            "wnid": ["n01", "n02"] * (n // 2) + ["n01"] * (n % 2),
            "text": [f"a photo {i}" for i in range(n)],
            "url": [f"https://example.org/{i}.jpg" for i in range(n)],
            "similarity": np.linspace(0.5, 0.9, n),
            "release_part": "p0",
            "path": [image_file(tmp_path / f"{i}.jpg", colour=(i * 40, 0, 0)) for i in range(n)],
        }
    )
    return records(rows, CLASSES)


def test_shards_hold_img2datasets_members_and_a_re_export_writes_the_same_bytes(tmp_path):
    table = table_of(tmp_path)
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    names = write_shards(tmp_path / "a", table, 2, lambda n: None)
    assert names == ["laionet-000000.tar", "laionet-000001.tar", "laionet-000002.tar"]
    with tarfile.open(tmp_path / "a" / names[0]) as tar:
        members = tar.getnames()
        assert members == ["s0.cls", "s0.jpg", "s0.json", "s0.txt", "s2.cls", "s2.jpg", "s2.json", "s2.txt"]
        assert tar.extractfile("s0.cls").read() == b"0" and tar.extractfile("s0.txt").read() == b"a photo 0"
    write_shards(tmp_path / "b", table, 2, lambda n: None)
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_an_interrupted_export_leaves_the_old_folder_and_nothing_half_written(tmp_path):
    table = table_of(tmp_path)
    out = tmp_path / "out"

    def export(folder):
        write_imagefolder(folder, table, CLASSES, "copy", lambda n: None)
        (folder / CARD).write_text(f"a card\n{MARKER}\n")

    folders.write_folder(out, False, export)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))

    def dies(folder):
        write_shards(folder, table, 2, lambda n: None)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        folders.write_folder(out, True, dies)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    with pytest.raises(folders.ExportExists, match="is not empty: .* --overwrite"):
        folders.write_folder(out, False, lambda f: None)


def test_overwrite_replaces_only_an_earlier_export(tmp_path):
    mine = tmp_path / "documents"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    with pytest.raises(folders.ExportExists, match="not an export .* refusing to replace it"):
        folders.write_folder(mine, True, lambda f: None)
    assert (mine / "thesis.tex").read_text() == "years of work"


def test_image_folder_links_or_copies(tmp_path):
    table = table_of(tmp_path, 2)
    for mode in ("copy", "hardlink", "symlink"):
        folder = tmp_path / mode
        folder.mkdir()
        counts = write_imagefolder(folder, table, CLASSES, mode, lambda n: None)
        target = folder / "n01" / "s0.jpg"
        assert counts == {"as_stored": 2, "converted_to_png": 0}
        assert target.is_symlink() == (mode == "symlink")
        assert target.read_bytes() == open(table["path"][0], "rb").read()
        assert (folder / "classes.txt").read_text() == "n01\ttench\nn02\tgoldfish\nn03\tshark\n"
