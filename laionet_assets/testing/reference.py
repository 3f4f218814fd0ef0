"""Slow, obvious implementations the fast paths are checked against: the paper's lemma-matching
loop, and the ``longest`` mode written the plain way."""

import re
import string
import unicodedata

import polars as pl


def paper_reference(texts, synsets):
    """The paper's loop, written the obvious way: for each caption, for each unique lemma."""
    lemma_to_wnids = {}
    for wnid, lemmas in synsets.select("wnid", "lemmas").iter_rows():
        for lemma in lemmas:
            lemma_to_wnids.setdefault(lemma, set()).add(wnid)
    unique = {lemma: next(iter(w)) for lemma, w in lemma_to_wnids.items() if len(w) == 1}
    table = str.maketrans({c: " " for c in string.punctuation})
    out = {}
    for row, text in enumerate(texts):
        if text is None:
            continue
        padded = " " + text.translate(table) + " "
        found = [lemma for lemma in unique if " " + lemma + " " in padded]
        if found:
            out[row] = (sorted(set(found)), sorted({unique[lemma] for lemma in found}))
    return out


def longest_reference(texts, synsets):
    """``longest`` mode the obvious way: normalise, find every occurrence, drop contained spans."""

    def norm(s):
        s = "".join(c for c in unicodedata.normalize("NFKD", s) if unicodedata.category(c) != "Mn").lower()
        return " " + " ".join(re.sub(r"[^\w]|_", " ", s).split()) + " "

    key_to = {}
    for wnid, lemmas in synsets.select("wnid", "lemmas").iter_rows():
        for lemma in lemmas:
            key_to.setdefault(norm(lemma), {}).setdefault(wnid, lemma)
    usable = {k: next(iter(v.items())) for k, v in key_to.items() if len(v) == 1 and k.strip()}
    out = {}
    for row, text in enumerate(texts):
        if text is None:
            continue
        padded = norm(text)
        spans = []
        for key, (wnid, lemma) in usable.items():
            start = padded.find(key)
            while start != -1:
                spans.append((start, start + len(key), lemma, wnid))
                start = padded.find(key, start + 1)
        kept = [
            s
            for s in spans
            if not any(o[0] <= s[0] and o[1] >= s[1] and (o[1] - o[0]) > (s[1] - s[0]) for o in spans)
        ]
        if kept:
            out[row] = (sorted({s[2] for s in kept}), sorted({s[3] for s in kept}))
    return out


def as_dict(frame: pl.DataFrame):
    return {row: (lemmas, wnids) for row, lemmas, wnids in frame.iter_rows()}
