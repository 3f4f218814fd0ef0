"""Target vocabularies: the classes LAIONet's method searches captions for (paper §2, any dataset).

A vocabulary is a class table in the shape of ``core.text.synsets`` (``wnid`` is the class id,
``class_index``, ``name``, ``lemmas``, ``definition``, ``synset_text``) plus ``class_name``, the
dataset's own label (an image folder's ``<class name or id>/<file>``).  Where one comes from:

``imagenet1k``
    The 1000 ILSVRC-2012 synsets (``core.text.synsets``), exactly as before.
``cifar100``, ``food101``
    The class lists shipped in ``laionet_assets/vocabularies/<name>.tsv``: each class names its
    WordNet synset where one is the class, else hand-written lemmas and a definition.
a file (``PATH``)
    * a class table (TSV, CSV or a JSON list of objects) with ``class_name`` and optional
      ``synset`` (WordNet name such as ``apple.n.01``, or a wnid), ``lemmas`` (``|``-separated)
      and ``definition``; or
    * a lemma → wnid dictionary (JSON object, TSV/CSV with columns ``lemma`` and ``wnid``, or a
      pickled ``dict``, such as the paper's own repository publishes), read with an unpickler that
      accepts nothing but a dict of strings.

The rule for a class table's row: with a synset, the lemmas are WordNet's, then the dataset's
class name (``_`` as space), then the row's own lemmas; the definition is WordNet's unless the row
gives one.  Without a synset the row must give lemmas and a definition; its id is
``<vocabulary>:<class_name>``.  A dictionary's classes are its wnids (name and definition from
WordNet; a wnid outside WordNet 3.0, such as an ImageNet-21k id, is named by its first lemma and its
text is that name) and their lemmas exactly the dictionary's keys that point to them, so the dictionary's
own choices (the paper's keeps *crane* for the bird) are reproduced exactly.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import re
from importlib import resources
from pathlib import Path

import polars as pl

from laionet_assets.core.io.names import slug
from laionet_assets.core.io.storage import Location, home_path
from laionet_assets.core.text.synsets import (
    SYNSETS_SCHEMA,
    imagenet_wnids,
    load_imagenet_synsets,
    synset_text,
)

DEFAULT_VOCABULARY = "imagenet1k"
SHIPPED = ("cifar100", "food101")
BUILTIN = (DEFAULT_VOCABULARY, *SHIPPED)
VOCABULARY_SCHEMA = {**SYNSETS_SCHEMA, "class_name": pl.String}
CLASS_TABLE_COLUMNS = ("class_name", "synset", "lemmas", "definition")
WNID = re.compile(r"^n\d{8}$")


class VocabularyError(ValueError):
    """A vocabulary that cannot be read: names the file, the row and the column."""


def vocabulary_slug(vocabulary: str) -> str:
    """A folder name for the vocabulary's outputs: its own name, or a file's stem and a digest
    of its resolved path (two files of one name never share a folder)."""
    if vocabulary in BUILTIN:
        return vocabulary
    path = Path(vocabulary).expanduser().resolve()
    stem = slug(path.stem, "folder") or "vocabulary"
    return f"{stem}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"


def vocabulary_home(home: str | Path, vocabulary: str = DEFAULT_VOCABULARY) -> Location:
    """Where a vocabulary's outputs live: ``<home>`` for ImageNet-1k, else
    ``<home>/vocabularies/<slug>``, so tables, reports and (through the CLI) the Dagster instance
    of two vocabularies never mix.  Downloaded images and the LanceDB caches, keyed by content
    and encoder, stay shared under ``<home>``."""
    home = home_path(home)
    return home if vocabulary == DEFAULT_VOCABULARY else home / "vocabularies" / vocabulary_slug(vocabulary)


def check_vocabulary(vocabulary: str) -> str:
    """The vocabulary itself, or a ValueError naming the built-in ones (a file must exist)."""
    if vocabulary in BUILTIN or Path(vocabulary).expanduser().is_file():
        return vocabulary
    raise ValueError(f"unknown vocabulary {vocabulary!r}: expected one of {', '.join(BUILTIN)} or a file")


def load_vocabulary(vocabulary: str = DEFAULT_VOCABULARY, wordnet=None) -> pl.DataFrame:
    """The vocabulary's class table (``VOCABULARY_SCHEMA``), in class-index order."""
    check_vocabulary(vocabulary)
    if vocabulary == DEFAULT_VOCABULARY:
        return load_imagenet_synsets(_wordnet(wordnet)).with_columns(class_name=pl.col("wnid"))
    if vocabulary in SHIPPED:
        text = resources.files("laionet_assets.vocabularies").joinpath(f"{vocabulary}.tsv").read_text()
        return class_table(_read_table(io.StringIO(text), "\t", f"{vocabulary}.tsv"), vocabulary, wordnet)
    path = Path(vocabulary).expanduser()
    entries = read_vocabulary_file(path)
    if isinstance(entries, dict):
        return lemma_dictionary_classes(entries, wordnet, str(path))
    return class_table(entries, vocabulary_slug(vocabulary), wordnet, str(path))


def read_vocabulary_file(path: Path) -> dict[str, str] | list[dict]:
    """A file's lemma → wnid dictionary, or its class table's rows."""
    suffix = path.suffix.lower()
    if suffix in (".pkl", ".pickle"):
        return read_pickled_dictionary(path)
    if suffix == ".json":
        try:
            value = json.loads(_utf8_text(path))
        except json.JSONDecodeError as exc:
            raise VocabularyError(
                f"{path}: line {exc.lineno}, column {exc.colno}: not JSON ({exc.msg})"
            ) from None
        except RecursionError:
            raise VocabularyError(f"{path}: nested too deeply to be a vocabulary") from None
        if isinstance(value, dict):
            return _string_dictionary(value, str(path))
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            return value
        raise VocabularyError(f"{path}: expected a JSON object (lemma → wnid) or a list of classes")
    if suffix in (".tsv", ".csv", ".txt"):
        rows = _read_table(
            io.StringIO(_utf8_text(path), newline=""), "," if suffix == ".csv" else "\t", str(path)
        )
        if rows and {"lemma", "wnid"} <= set(rows[0]):
            return _string_dictionary({r["lemma"]: r["wnid"] for r in rows}, str(path))
        return rows
    raise VocabularyError(f"{path}: unknown vocabulary file type {suffix!r} (.json, .tsv, .csv, .pkl)")


def _utf8_text(path: Path) -> str:
    """The file's text; a byte that is not UTF-8 is a ``VocabularyError`` naming its line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise VocabularyError(f"{path}: line {line}: not UTF-8 (byte {data[exc.start]:#04x})") from None


class _DictOfStringsUnpickler(pickle.Unpickler):
    """Builds nothing but pickle's own containers and strings: every import is refused, so a
    pickle cannot run code; the caller then checks the result is a dict of strings."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: only a dict of strings is accepted")


def read_pickled_dictionary(path: Path) -> dict[str, str]:
    """A pickled lemma → wnid ``dict`` (the paper repository's), through the restricted unpickler."""
    try:
        with open(path, "rb") as f:
            value = _DictOfStringsUnpickler(f).load()
        return _string_dictionary(value, str(path))
    except VocabularyError:
        raise
    except RecursionError:
        raise VocabularyError(f"{path}: nested too deeply to be a pickled dict of strings") from None
    except Exception as exc:  # noqa: BLE001 - crafted bytes raise anything; the file is named
        raise VocabularyError(
            f"{path}: not a pickled dict of strings ({type(exc).__name__}: {exc})"[:300]
        ) from None


def _string_dictionary(value, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise VocabularyError(f"{where}: expected a dict of lemma → wnid, got {type(value).__name__}")
    for i, (k, v) in enumerate(value.items()):
        if not isinstance(k, str) or not isinstance(v, str):
            raise VocabularyError(f"{where}: entry {i} ({k!r}: {v!r}) is not a string → string")
    return value


def _read_table(f, separator: str, where: str) -> list[dict]:
    import csv

    reader = csv.DictReader(f, delimiter=separator)
    if reader.fieldnames is None:
        raise VocabularyError(f"{where}: empty file")
    return [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]


def _wordnet(wordnet):
    if wordnet is None:
        from laionet_assets.core.text.wordnet import ensure_wordnet

        wordnet = ensure_wordnet()
    return wordnet


def _synset(wordnet, ref: str, where: str):
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nltk warns, then returns None, for an unknown offset
            synset = (
                wordnet.synset_from_pos_and_offset("n", int(ref[1:]))
                if WNID.match(ref)
                else wordnet.synset(ref)
            )
    except Exception as exc:  # noqa: BLE001  nltk raises several kinds for an unknown synset
        raise VocabularyError(f"{where}: {ref!r} is not a WordNet 3.0 noun synset ({exc})") from None
    if synset is None:
        raise VocabularyError(f"{where}: {ref!r} is not a WordNet 3.0 noun synset")
    return synset


def _spaced(text: str) -> str:
    return text.replace("_", " ").strip()


def class_table(rows: list[dict], prefix: str, wordnet=None, where: str | None = None) -> pl.DataFrame:
    """A vocabulary from class-table rows (see the module's rule)."""
    where = where or f"{prefix}.tsv"
    out, seen = [], {}
    if any(row.get("synset") for row in rows):
        wordnet = _wordnet(wordnet)  # read once: building nltk's reader takes seconds
    for i, row in enumerate(rows, start=1):
        at = f"{where}, row {i}"
        class_name = str(row.get("class_name") or "").strip()
        if not class_name:
            raise VocabularyError(f"{at}, column class_name: empty")
        own = [_spaced(x) for x in str(row.get("lemmas") or "").split("|") if x.strip()]
        definition = str(row.get("definition") or "").strip()
        if row.get("synset"):
            synset = _synset(wordnet, str(row["synset"]).strip(), f"{at}, column synset")
            wnid = f"n{synset.offset():08d}"
            name = synset.name().split(".")[0].replace("_", " ")
            lemmas = [_spaced(x) for x in synset.lemma_names()] + [_spaced(class_name), *own]
            definition = definition or synset.definition()
        else:
            missing = [c for c, v in (("lemmas", own), ("definition", definition)) if not v]
            if missing:
                raise VocabularyError(
                    f"{at}, column {missing[0]}: a class without a synset needs lemmas and a definition"
                )
            wnid, name, lemmas = f"{prefix}:{class_name}", _spaced(class_name), [_spaced(class_name), *own]
        if wnid in seen:
            raise VocabularyError(f"{at}, column synset: {wnid} is also row {seen[wnid]}'s class")
        seen[wnid] = i
        out.append(
            {
                "wnid": wnid,
                "class_index": i - 1,
                "name": name,
                "lemmas": list(dict.fromkeys(lemmas)),
                "definition": definition,
                "synset_text": synset_text(name, definition),
                "class_name": class_name,
            }
        )
    if not out:
        raise VocabularyError(f"{where}: no classes")
    return pl.DataFrame(out, schema=VOCABULARY_SCHEMA)


def lemma_dictionary_classes(lemmas: dict[str, str], wordnet=None, where: str = "dictionary") -> pl.DataFrame:
    """A vocabulary from a lemma → wnid dictionary: one class per wnid (ILSVRC class-index order
    first, then the others sorted), its lemmas the dictionary's keys for it in their order."""
    if not lemmas:
        raise VocabularyError(f"{where}: no entries")
    wordnet = _wordnet(wordnet)
    by_wnid: dict[str, list[str]] = {}
    for i, (lemma, wnid) in enumerate(lemmas.items()):
        if not WNID.match(wnid):
            raise VocabularyError(f"{where}: entry {i} ({lemma!r}: {wnid!r}) is not a wnid like n01440764")
        by_wnid.setdefault(wnid, []).append(_spaced(lemma))
    ilsvrc = {w: i for i, w in enumerate(imagenet_wnids())}
    order = sorted(by_wnid, key=lambda w: (w not in ilsvrc, ilsvrc.get(w, 0), w))
    rows = []
    for index, wnid in enumerate(order):
        try:
            synset = _synset(wordnet, wnid, where)
            name, definition = synset.name().split(".")[0].replace("_", " "), synset.definition()
            text = synset_text(name, definition)
        except VocabularyError:  # an ImageNet-21k id outside WordNet 3.0: named by its first lemma
            name, definition = by_wnid[wnid][0], ""
            text = name
        rows.append(
            {
                "wnid": wnid,
                "class_index": index,
                "name": name,
                "lemmas": list(dict.fromkeys(by_wnid[wnid])),
                "definition": definition,
                "synset_text": text,
                "class_name": wnid,
            }
        )
    return pl.DataFrame(rows, schema=VOCABULARY_SCHEMA)


def label_space(vocabulary: pl.DataFrame) -> str | None:
    """``imagenet1k`` when every class is an ILSVRC-2012 synset (an ImageNet classifier's
    predictions can be scored against it), else ``None``."""
    return DEFAULT_VOCABULARY if set(vocabulary["wnid"]) <= set(imagenet_wnids()) else None


def folder_classes(vocabulary: pl.DataFrame) -> dict[str, str]:
    """Image-folder name → class id: a class's id, its dataset label, and its name."""
    mapping = {}
    for column in [c for c in ("name", "class_name", "wnid") if c in vocabulary.columns]:  # later ones win
        mapping.update(dict(zip(vocabulary[column], vocabulary["wnid"], strict=True)))
        mapping.update(
            {k.replace(" ", "_"): v for k, v in zip(vocabulary[column], vocabulary["wnid"], strict=True)}
        )
    return mapping
