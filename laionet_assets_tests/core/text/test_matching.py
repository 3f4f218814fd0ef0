"""The matcher against the paper's loop, on real captions, crafted cases and random ones."""

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laionet_assets.core.text.matching import (
    always_multilabel_classes,
    lemma_table,
    match_captions,
    matchable_classes,
    usable_lemmas,
)
from laionet_assets.testing.reference import as_dict, longest_reference, paper_reference

SEA_LION, LION = "n02077923", "n02129165"


def test_paper_mode_facts_over_the_1000_synsets(synsets):
    table = lemma_table(synsets, "paper")
    unique = table.filter(pl.col("n_synsets") == 1)
    assert (unique.height, unique["wnid"].n_unique()) == (1824, 994)
    usable = usable_lemmas(synsets, "paper")
    assert (usable.height, usable["wnid"].n_unique()) == (1760, 979)
    assert matchable_classes(synsets, "paper") == 979
    always = always_multilabel_classes(synsets, "paper")
    assert len(always) == 27
    assert SEA_LION in always


def test_longest_mode_has_no_always_multilabel_class(synsets):
    assert always_multilabel_classes(synsets, "longest") == []
    assert matchable_classes(synsets, "longest") > matchable_classes(synsets, "paper")


def test_sea_lion_is_multilabel_in_paper_mode_and_sea_lion_in_longest(synsets):
    texts = pl.Series(["a sea lion on the rocks", "lion and sea lion", "SEA LION!"])
    paper = as_dict(match_captions(texts, synsets, "paper"))
    assert paper[0] == (["lion", "sea lion"], [SEA_LION, LION])
    assert 2 not in paper  # case-sensitive
    longest = as_dict(match_captions(texts, synsets, "longest"))
    assert longest[0] == (["sea lion"], [SEA_LION])
    assert longest[1] == (["lion", "sea lion"], [SEA_LION, LION])  # a lion on its own still counts
    assert longest[2] == (["sea lion"], [SEA_LION])


def test_underscore_is_punctuation(synsets):
    out = as_dict(match_captions(pl.Series(["Oval_drum_small2"]), synsets, "paper"))
    assert out == {0: (["drum"], ["n03249569"])}


def test_adjacent_lemmas_share_a_padding_space(synsets):
    out = as_dict(match_captions(pl.Series(["lion tiger"]), synsets, "paper"))
    assert out[0][1] == [LION, "n02129604"]


def test_null_empty_and_non_ascii_captions(synsets):
    texts = pl.Series(["", None, "   ", "ライオン lion 🦁", "consommé"], dtype=pl.String)
    paper = as_dict(match_captions(texts, synsets, "paper"))
    assert set(paper) == {3}
    longest = as_dict(match_captions(texts, synsets, "longest"))
    assert longest[4] == (["consomme"], ["n07584110"])


def test_empty_input(synsets):
    out = match_captions(pl.Series([], dtype=pl.String), synsets)
    assert out.columns == ["row", "lemmas", "wnids"] and out.height == 0


def test_unknown_mode(synsets):
    with pytest.raises(ValueError, match="unknown matching mode"):
        match_captions(pl.Series(["x"]), synsets, "fuzzy")


def test_paper_mode_equals_the_paper_loop_on_real_laion_captions(laion_1k, synsets):
    texts = laion_1k.to_list()
    assert as_dict(match_captions(laion_1k, synsets, "paper")) == paper_reference(texts, synsets)


def test_longest_mode_equals_reference_on_real_laion_captions(laion_1k, synsets):
    assert as_dict(match_captions(laion_1k, synsets, "longest")) == longest_reference(
        laion_1k.to_list(), synsets
    )


def test_real_captions_do_match(laion_1k, synsets):
    out = match_captions(laion_1k, synsets, "paper")
    assert 10 < out.height < laion_1k.len()


@pytest.fixture(scope="module")
def vocabulary(synsets):
    lemmas = usable_lemmas(synsets, "paper")["lemma"].to_list()
    return sorted(lemmas)[::7] + ["lion", "sea", "sea lion", "Sea", "the", "a", "photo"]


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_random_captions_match_both_references(data, synsets, vocabulary):
    token = st.sampled_from(vocabulary)
    sep = st.sampled_from([" ", "  ", ",", "-", "_", ". ", "'", "é ", "\t", ""])
    captions = data.draw(
        st.lists(
            st.lists(st.tuples(token, sep), max_size=6).map(lambda ts: "".join(t + s for t, s in ts)),
            min_size=1,
            max_size=8,
        )
    )
    series = pl.Series(captions, dtype=pl.String)
    assert as_dict(match_captions(series, synsets, "paper")) == paper_reference(captions, synsets)
    assert as_dict(match_captions(series, synsets, "longest")) == longest_reference(captions, synsets)
