"""Vocabularies: the shipped CIFAR-100 and Food-101 lists, custom class tables and lemma
dictionaries matched against the paper's loop, and the restricted unpickler."""

import json
import pickle

import polars as pl
import pytest

from laionet_assets.core.text.matching import match_captions
from laionet_assets.core.text.vocabularies import (
    VOCABULARY_SCHEMA,
    VocabularyError,
    check_vocabulary,
    folder_classes,
    label_space,
    load_vocabulary,
    read_pickled_dictionary,
    vocabulary_slug,
)
from laionet_assets.testing.reference import as_dict, paper_reference

CRANE_BIRD, CRANE_MACHINE = "n02012849", "n03126707"
HUSKY_DICT, HUSKY_ILSVRC = "n02112837", "n02110185"
CAPTIONS = [
    "A crane lifting steel beams",
    "siberian husky puppy in snow",
    "Siberian husky, blue eyes",
    "aquarium fish and a tench",
    "Pad Thai with shrimp",
    "pad thai noodles; tropical fish",
    None,
    "nothing here",
]


@pytest.mark.parametrize(("name", "size"), [("cifar100", 100), ("food101", 101)])
def test_shipped_vocabularies_have_every_class_once_with_lemmas_and_a_text(name, size):
    table = load_vocabulary(name)
    assert table.schema == pl.Schema(VOCABULARY_SCHEMA) and table.height == size
    assert table["wnid"].n_unique() == size and table["class_name"].n_unique() == size
    assert table["class_index"].to_list() == list(range(size))
    assert (table["lemmas"].list.len() > 0).all() and (table["definition"].str.len_chars() > 10).all()
    assert (table["synset_text"] == table["name"] + " which is " + table["definition"]).all()
    # a class is its WordNet synset, or hand-written (its id names the vocabulary)
    assert table["wnid"].str.contains(rf"^(n\d{{8}}|{name}:\w+)$").all()
    assert label_space(table) is None and label_space(load_vocabulary("imagenet1k")) == "imagenet1k"


def test_cifar100_rule_wordnet_lemmas_then_the_dataset_name_then_hand_written():
    table = {r["class_name"]: r for r in load_vocabulary("cifar100").iter_rows(named=True)}
    assert table["maple_tree"]["wnid"] == "n12752205" and table["maple_tree"]["lemmas"] == [
        "maple",
        "maple tree",
    ]
    assert table["apple"]["lemmas"] == ["apple"]  # the class name is WordNet's lemma: once
    fish = table["aquarium_fish"]
    assert fish["wnid"] == "cifar100:aquarium_fish" and fish["lemmas"] == ["aquarium fish", "tropical fish"]
    assert folder_classes(load_vocabulary("cifar100"))["maple_tree"] == "n12752205"
    assert folder_classes(load_vocabulary("cifar100"))["n12752205"] == "n12752205"


def custom_table(tmp_path):
    path = tmp_path / "mine.tsv"
    path.write_text(
        "class_name\tsynset\tlemmas\tdefinition\n"
        "tench\tn01440764\t\t\n"
        "aquarium_fish\t\taquarium fish|tropical fish\ta small fish kept in a home aquarium\n"
        "pad_thai\t\tpad thai|Pad Thai\tstir-fried rice noodles\n"
        "crane\tcrane.n.05\t\t\n"
    )
    return path


def test_a_custom_class_table_matches_as_the_paper_loop_with_those_lemmas(tmp_path):
    table = load_vocabulary(str(custom_table(tmp_path)))
    prefix = vocabulary_slug(str(tmp_path / "mine.tsv"))
    assert table["wnid"].to_list() == [
        "n01440764",
        f"{prefix}:aquarium_fish",
        f"{prefix}:pad_thai",
        CRANE_BIRD,
    ]
    texts = pl.Series(CAPTIONS)
    got = as_dict(match_captions(texts, table, "paper"))
    assert got == paper_reference(CAPTIONS, table)
    assert got[0][1] == [CRANE_BIRD] and got[3][0] == ["aquarium fish", "tench"] and got[4][0] == ["Pad Thai"]


def dictionary():
    return {
        "crane": CRANE_BIRD,
        "Siberian husky": HUSKY_DICT,
        "tench": "n01440764",
        "Tinca tinca": "n01440764",
    }


@pytest.mark.parametrize("kind", ["json", "tsv", "csv", "pickle"])
def test_a_lemma_dictionary_reproduces_its_own_choices(tmp_path, kind, synsets):
    entries = dictionary()
    path = tmp_path / f"lemma2wnid.{'pkl' if kind == 'pickle' else kind}"
    if kind == "json":
        path.write_text(json.dumps(entries))
    elif kind == "pickle":
        path.write_bytes(pickle.dumps(entries))
    else:
        sep = "," if kind == "csv" else "\t"
        path.write_text(f"lemma{sep}wnid\n" + "".join(f"{k}{sep}{v}\n" for k, v in entries.items()))
    table = load_vocabulary(str(path))
    assert table["wnid"].to_list() == ["n01440764", CRANE_BIRD, HUSKY_DICT]  # ILSVRC order, then others
    assert table["lemmas"].to_list()[0] == ["tench", "Tinca tinca"] and label_space(table) is None
    got = as_dict(match_captions(pl.Series(CAPTIONS), table, "paper"))
    assert got == paper_reference(CAPTIONS, table)
    assert got[0][1] == [CRANE_BIRD] and got[2][1] == [HUSKY_DICT]
    # paper mode over the 1000 synsets keeps the stated rule: crane names two synsets, so neither
    stated = as_dict(match_captions(pl.Series(CAPTIONS), synsets, "paper"))
    assert 0 not in stated and HUSKY_ILSVRC in stated[2][1]
    assert {CRANE_BIRD, CRANE_MACHINE} <= set(synsets["wnid"])


class Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"crane": Exploit()}, "refused to load builtins.print"),
        (["crane", CRANE_BIRD], "expected a dict of lemma → wnid, got list"),
        ({"crane": 2012849}, "entry 0 ('crane': 2012849) is not a string → string"),
    ],
)
def test_the_unpickler_accepts_nothing_but_a_dict_of_strings(tmp_path, capsys, value, message):
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps(value))
    with pytest.raises(VocabularyError) as error:
        read_pickled_dictionary(path)
    assert str(path) in str(error.value) and message in str(error.value)
    assert "pwned" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("class_name\tsynset\tlemmas\tdefinition\nfish\t\tfish\t\n", r"row 1, column definition"),
        ("class_name\tsynset\nok\tn01440764\nbad\tnot.a.synset\n", r"row 2, column synset: 'not.a.synset'"),
        (
            "class_name\tsynset\na\tn01440764\nb\ttench.n.01\n",
            r"row 2, column synset: n01440764 is also row 1",
        ),
        ("class_name\n\n", "no classes"),
    ],
)
def test_a_bad_class_table_names_file_row_and_column(tmp_path, text, message):
    path = tmp_path / "bad.tsv"
    path.write_text(text)
    with pytest.raises(VocabularyError, match=message) as error:
        load_vocabulary(str(path))
    assert str(path) in str(error.value)


def test_unknown_vocabularies_and_dictionary_values(tmp_path):
    with pytest.raises(ValueError, match="expected one of imagenet1k, cifar100, food101 or a file"):
        check_vocabulary("cifar10")
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"crane": "bird"}))
    with pytest.raises(VocabularyError, match="entry 0 .* is not a wnid"):
        load_vocabulary(str(path))
    assert vocabulary_slug(str(path)) != vocabulary_slug(str(tmp_path / "x" / "d.json"))


def test_an_image_folder_may_name_classes_by_the_datasets_class_name(tmp_path):
    from PIL import Image

    from laionet_assets.core.images.folders import load_image_folder

    vocabulary = load_vocabulary("cifar100")
    for folder in ("maple_tree", "n12268246", "aquarium_fish", "not_a_class"):
        (tmp_path / folder).mkdir()
        Image.new("RGB", (4, 4)).save(tmp_path / folder / "0.png")
    frame, counts = load_image_folder(
        tmp_path, vocabulary["wnid"].to_list(), folder_names=folder_classes(vocabulary)
    )
    assert dict(zip(frame["image_id"], frame["wnid"], strict=True)) == {
        "maple_tree/0.png": "n12752205",
        "n12268246/0.png": "n12268246",  # oak, by its id
        "aquarium_fish/0.png": "cifar100:aquarium_fish",
    }
    assert counts["unknown_class_files"] == 1


def deep_pickle(depth: int) -> bytes:
    """A pickled {"a": [[[…]]]} nested ``depth`` lists deep (built by the unpickler without
    recursion; printing it recurses)."""
    return b"\x80\x02}X\x01\x00\x00\x00a" + b"]" * depth + b"a" * (depth - 1) + b"s."


@pytest.mark.parametrize(
    "name, data, said",
    [
        ("truncated.json", b'{"lion": "n02129165", "tig', "line 1, column"),
        ("latin1.tsv", b"lemma\twnid\nlion\tn02129165\nb\xe4r\tn02132136\n", "line 3: not UTF-8"),
        ("deep.pkl", deep_pickle(200_000), "nested too deeply"),
        ("garbage.pkl", b"\x80\x02K\x01K\x02s.", "not a pickled dict of strings"),
    ],
)
def test_a_vocabulary_file_that_cannot_be_read_is_named_in_one_line(tmp_path, name, data, said):
    from laionet_assets.core.text.vocabularies import VocabularyError, read_vocabulary_file

    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(VocabularyError) as error:
        read_vocabulary_file(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ") and said in message and "\n" not in message
