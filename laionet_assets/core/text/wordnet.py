"""WordNet 3.0 for nltk, laid out from Debian's ``wordnet-base`` package.

nltk 3.10 reads WordNet only from ``<folder on nltk.data.path>/corpora/wordnet/`` and needs a
``lexnames`` file, which Debian does not ship (its 45 entries are in the ``lexnames(5WN)`` man
page).  :func:`ensure_wordnet` builds that folder once, from real copies of the Debian files, under
``$LAIONET_NLTK_DATA`` or ``<sys.prefix>/nltk_data`` (a folder nltk searches by default).
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

DEBIAN_WORDNET = Path("/usr/share/wordnet")
DEBIAN_LEXNAMES_MAN = Path("/usr/share/man/man5/lexnames.5WN.gz")
_SYNTACTIC_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
_NEEDED = ("data.noun", "index.noun", "noun.exc", "data.verb", "index.verb", "data.adj", "index.adj")


class WordNetUnavailable(RuntimeError):
    pass


def nltk_data_dir() -> Path:
    return Path(os.environ.get("LAIONET_NLTK_DATA") or Path(sys.prefix) / "nltk_data")


def lexnames_from_man_page(man_page: Path = DEBIAN_LEXNAMES_MAN) -> str:
    """The ``lexnames`` file (``NN<TAB>name<TAB>category``) from the WordNet man page."""
    text = gzip.decompress(man_page.read_bytes()).decode("utf-8", "replace")
    rows = re.findall(r"^(\d\d)\s+((?:noun|verb|adj|adv)\.\w+)", text, flags=re.MULTILINE)
    if len(rows) != 45:
        raise WordNetUnavailable(f"{man_page}: expected 45 lexicographer files, found {len(rows)}")
    return "".join(f"{num}\t{name}\t{_SYNTACTIC_CATEGORY[name.split('.')[0]]}\n" for num, name in rows)


def build_wordnet_corpus(target: Path, source: Path = DEBIAN_WORDNET) -> Path:
    """Copy Debian's WordNet files into ``target/corpora/wordnet`` (atomically) and return it."""
    missing = [name for name in _NEEDED if not (source / name).is_file()]
    if missing:
        raise WordNetUnavailable(
            f"WordNet 3.0 files {missing} not found in {source}; install Debian's "
            "'wordnet-base' and 'wordnet-sense-index' (make setup does this)"
        )
    final = target / "corpora" / "wordnet"
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".wordnet-", dir=final.parent))
    for path in source.iterdir():
        if path.is_file():
            shutil.copyfile(path, tmp / path.name)
    (tmp / "lexnames").write_text(lexnames_from_man_page())
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return final


def ensure_wordnet():
    """Return nltk's WordNet reader, building the corpus folder first when nltk cannot find it."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    data_dir = nltk_data_dir()
    if str(data_dir) not in nltk.data.path:
        nltk.data.path.insert(0, str(data_dir))
    try:
        root = nltk.data.find("corpora/wordnet")
    except LookupError:
        build_wordnet_corpus(data_dir)
        root = nltk.data.find("corpora/wordnet")
    reader = WordNetCorpusReader(root, None)
    if reader.get_version() != "3.0":
        raise WordNetUnavailable(f"{root}: WordNet {reader.get_version()} found, the paper uses 3.0")
    return reader
