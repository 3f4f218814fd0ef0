"""Names on disk: one ``slug`` gives, for every kind of name, exactly what homes already hold."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laionet_assets.core.io.names import NAME_RULES, slug, table_name

# Each kind of name as homes on disk spell it, written out plainly.
SPELLED = {
    "partition": lambda t: re.sub(r"[^a-z0-9_-]+", "_", t.lower()).strip("_-"),
    "table": lambda t: re.sub(r"[^a-z0-9]+", "_", t.lower()).strip("_"),
    "file": lambda t: re.sub(r"[^A-Za-z0-9._-]+", "_", t),
    "folder": lambda t: re.sub(r"[^A-Za-z0-9_.-]+", "-", t),
}
names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40
) | st.sampled_from(
    ["LAION400M", "laion400m", "part-00000", "../../etc", "clip:ViT-B-32/openai", "ünïcode näme", "a  b"]
)


@pytest.mark.parametrize("rule", sorted(NAME_RULES))
@given(text=names)
def test_slug_spells_each_kind_of_name_as_on_disk(rule, text):
    expected = SPELLED[rule](text)
    if rule == "partition" and not expected:
        with pytest.raises(ValueError, match="no characters usable in a partition key"):
            slug(text, rule)
    else:
        assert slug(text, rule) == expected


def test_slug_never_leaves_a_path_separator_or_parent_reference():
    for rule in NAME_RULES:
        for text in ("../../x", "a/b", "a\\b", "/abs"):
            name = slug(text, rule)
            assert "/" not in name and "\\" not in name


def test_table_names_of_the_caches_and_the_index():
    assert (
        table_name("caption_embeddings", "clip:ViT-B-32/openai") == "caption_embeddings__clip_vit_b_32_openai"
    )
    assert (
        table_name("laion_caption_index", "st:all-MiniLM-L6-v2") == "laion_caption_index__st_all_minilm_l6_v2"
    )
