"""Lemma matching of captions against the ImageNet synsets (paper §2).

Two modes:

``paper``
    Exactly the paper's rule: every ASCII punctuation character of the caption becomes a space,
    the caption is padded with one space each side, and a lemma (padded the same way, not
    normalised) matches when it is a case-sensitive substring.  Only lemmas that belong to exactly
    one of the 1000 synsets count.  Consequences: lemmas with punctuation never match, and a
    caption with *sea lion* also matches *lion* (multi-label).

``longest``
    Both sides Unicode-normalised (NFKD, combining marks dropped), lower-cased, every run of
    characters that are not letters or digits turned into one space.  Lemmas must be unique across
    synsets *after* that normalisation.  A match lying inside a longer match at the same place
    (*lion* inside *sea lion*) is dropped, so only the longest lemma counts.

Both modes run as polars Aho-Corasick (``str.extract_many`` / ``str.find_many`` with
``overlapping=True``) over the whole column: no Python loop per caption.  ``overlapping=False``
would be wrong: adjacent lemmas share a padding space.
"""

from __future__ import annotations

import re
import string

import polars as pl

from laionet_assets.core.choices import check_choice

MODES = ("paper", "longest")
ASCII_PUNCTUATION_CLASS = "[" + re.escape(string.punctuation) + "]"
MATCHES_SCHEMA = {"row": pl.UInt32, "lemmas": pl.List(pl.String), "wnids": pl.List(pl.String)}


def check_mode(mode: str) -> str:
    """The mode itself, or a ValueError naming the allowed ones (used by every config)."""
    return check_choice(mode, MODES, "matching mode")


def normalize_paper(expr: pl.Expr) -> pl.Expr:
    """Caption as the paper searches it: ASCII punctuation → space, one space of padding."""
    return pl.lit(" ") + expr.str.replace_all(ASCII_PUNCTUATION_CLASS, " ") + pl.lit(" ")


def normalize_longest(expr: pl.Expr) -> pl.Expr:
    """Case-folded, accent-stripped, punctuation/whitespace runs → one space, padded."""
    folded = (
        expr.str.normalize("NFKD")
        .str.replace_all(r"\p{Mn}+", "")
        .str.to_lowercase()
        .str.replace_all(r"[^\p{L}\p{N}]+", " ")
        .str.strip_chars(" ")
    )
    return pl.lit(" ") + folded + pl.lit(" ")


def normalize(expr: pl.Expr, mode: str) -> pl.Expr:
    check_mode(mode)
    return normalize_paper(expr) if mode == "paper" else normalize_longest(expr)


def lemma_table(synsets: pl.DataFrame, mode: str = "paper") -> pl.DataFrame:
    """Every lemma of the synsets with its search ``pattern`` and whether it is ``usable``.

    A lemma is usable when its pattern belongs to exactly one synset and it can occur in a
    normalised caption at all (in ``paper`` mode a lemma containing punctuation never can).
    Columns: ``wnid, lemma, pattern, n_synsets, can_match, usable``.
    """
    check_mode(mode)
    lemmas = synsets.select("wnid", pl.col("lemmas").alias("lemma")).explode("lemma")
    lemmas = lemmas.filter(pl.col("lemma").is_not_null() & (pl.col("lemma").str.len_chars() > 0))
    if mode == "paper":
        pattern = pl.lit(" ") + pl.col("lemma") + pl.lit(" ")
    else:
        pattern = normalize_longest(pl.col("lemma"))
    lemmas = lemmas.with_columns(pattern.alias("pattern")).unique(["wnid", "pattern"], maintain_order=True)
    lemmas = lemmas.with_columns(n_synsets=pl.col("wnid").n_unique().over("pattern").cast(pl.UInt32))
    # A pattern can match iff it survives the caption normalisation unchanged (no punctuation
    # in paper mode; always true for normalised lemmas in longest mode, unless it is empty).
    can_match = (normalize(pl.col("pattern").str.strip_chars(" "), mode) == pl.col("pattern")) & (
        pl.col("pattern").str.strip_chars(" ").str.len_chars() > 0
    )
    return lemmas.with_columns(can_match=can_match).with_columns(
        usable=(pl.col("n_synsets") == 1) & pl.col("can_match")
    )


def usable_lemmas(synsets: pl.DataFrame, mode: str = "paper") -> pl.DataFrame:
    """``lemma, pattern, wnid`` of the lemmas that can label a caption, one row per pattern."""
    table = lemma_table(synsets, mode).filter("usable")
    return table.select("lemma", "pattern", "wnid").unique("pattern", keep="first", maintain_order=True)


def matchable_classes(synsets: pl.DataFrame, mode: str = "paper") -> int:
    """Number of synsets with at least one usable lemma (a caption can select them)."""
    return usable_lemmas(synsets, mode)["wnid"].n_unique()


def always_multilabel_classes(synsets: pl.DataFrame, mode: str = "paper") -> list[str]:
    """Synsets every one of whose usable lemmas drags in another synset's lemma.

    A caption consisting of the lemma alone is the least a caption matching it can contain; if even
    that matches two synsets, every caption that selects the synset is multi-label.
    """
    lemmas = usable_lemmas(synsets, mode)
    captions = lemmas["pattern"].str.strip_chars(" ")
    matches = match_captions(captions, synsets, mode)
    single = matches.filter(pl.col("wnids").list.len() == 1).select("row")
    own = lemmas.with_row_index("row").join(single, on="row", how="semi")
    return sorted(set(lemmas["wnid"]) - set(own["wnid"]))


def match_captions(texts: pl.Series, synsets: pl.DataFrame, mode: str = "paper") -> pl.DataFrame:
    """Lemmas and synsets found in each caption; one row per caption with at least one match.

    Returns ``row`` (0-based position in ``texts``), ``lemmas`` (sorted unique matched lemmas, as
    WordNet spells them) and ``wnids`` (sorted unique).  Null captions never match.
    """
    check_mode(mode)
    lemmas = usable_lemmas(synsets, mode)
    patterns = lemmas["pattern"].to_list()
    if not patterns or texts.len() == 0:
        return pl.DataFrame(schema=MATCHES_SCHEMA)
    frame = pl.DataFrame({"text": texts.cast(pl.String)}).with_row_index("row")
    searched = normalize(pl.col("text"), mode)
    found = (
        frame.lazy()
        .select(
            "row",
            searched.str.extract_many(patterns, overlapping=True).alias("pattern"),
            *(
                [searched.str.find_many(patterns, overlapping=True).alias("start")]
                if mode == "longest"
                else []
            ),
        )
        .filter(pl.col("pattern").list.len() > 0)
    )
    if mode == "longest":
        found = _keep_longest(found)
    else:
        found = found.explode("pattern")
    return (
        found.join(lemmas.lazy(), on="pattern", how="inner")
        .group_by("row")
        .agg(pl.col("lemma").unique().sort().alias("lemmas"), pl.col("wnid").unique().sort().alias("wnids"))
        .sort("row")
        .collect()
        .cast(MATCHES_SCHEMA)
    )


def _keep_longest(found: pl.LazyFrame) -> pl.LazyFrame:
    """Drop every match whose span lies inside a longer match of the same caption.

    Sorted by start ascending and end descending, a match is inside an earlier one exactly when
    the running maximum of earlier ends reaches its end: one sort and one scan, no self-join.
    """
    spans = found.explode(["pattern", "start"]).with_columns(
        end=pl.col("start") + pl.col("pattern").str.len_bytes()
    )
    spans = spans.sort(["row", "start", "end"], descending=[False, False, True])
    covered = pl.col("end").cum_max().shift(1).over("row")
    return spans.filter(covered.is_null() | (covered < pl.col("end"))).select("row", "pattern")
