import pytest

from laionet_assets.core.images.folders import load_image_folder
from laionet_assets.testing.fixtures import shared_path


def touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_wnid_and_index_folders_count_unknown_classes(tmp_path, synsets):
    wnids = synsets["wnid"].to_list()
    touch(tmp_path / "val" / wnids[3] / "a.JPEG")
    touch(tmp_path / "val" / wnids[3] / "b.png")
    touch(tmp_path / "val" / wnids[3] / "notes.txt")
    touch(tmp_path / "val" / "n99999999" / "c.jpg")
    touch(tmp_path / "val" / "dogs" / "d.jpg")
    frame, counts = load_image_folder(tmp_path / "val", wnids)
    assert counts["layout"] == "wnid_folders"
    assert frame["wnid"].to_list() == [wnids[3]] * 2
    assert (counts["unknown_class_files"], counts["unknown_class_names"], counts["not_image_files"]) == (
        2,
        2,
        1,
    )

    touch(tmp_path / "v2" / "0" / "x.jpeg")
    touch(tmp_path / "v2" / "999" / "y.jpeg")
    touch(tmp_path / "v2" / "1000" / "z.jpeg")
    frame, counts = load_image_folder(tmp_path / "v2", wnids)
    assert counts["layout"] == "index_folders"
    assert (
        sorted(frame["wnid"].to_list()) == sorted([wnids[0], wnids[999]])
        and counts["unknown_class_files"] == 1
    )


def test_labels_file(tmp_path, synsets):
    wnids = synsets["wnid"].to_list()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        touch(tmp_path / "flat" / name)
    (tmp_path / "labels.csv").write_text("file,class_index\na.jpg,7\nb.jpg,4000\nc.jpg,\nmissing.jpg,1\n")
    frame, counts = load_image_folder(tmp_path / "flat", wnids, labels_file=str(tmp_path / "labels.csv"))
    assert frame.select("image_id", "wnid").rows() == [("a.jpg", wnids[7])]
    assert counts["unknown_class_files"] == 2 and counts["missing_files"] == 1
    (tmp_path / "bad.csv").write_text("name,label\n")
    with pytest.raises(ValueError, match="bad.csv: expected columns"):
        load_image_folder(tmp_path / "flat", wnids, labels_file=str(tmp_path / "bad.csv"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "nowhere", wnids)


def test_shared_imagenet_sample(synsets):
    frame, counts = load_image_folder(shared_path("data", "imagenet_sample"), synsets["wnid"].to_list())
    assert counts["layout"] == "wnid_prefix" and frame.height == 100 and frame["wnid"].n_unique() == 100
