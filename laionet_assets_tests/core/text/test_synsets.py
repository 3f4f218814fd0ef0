"""The 1000 ILSVRC-2012 synsets and the WordNet layout nltk needs."""

from laionet_assets.core.text.synsets import imagenet_wnids
from laionet_assets.core.text.wordnet import build_wordnet_corpus, lexnames_from_man_page


def test_synsets_in_class_index_order(synsets):
    assert synsets.height == 1000
    assert synsets["wnid"].to_list() == imagenet_wnids()
    assert synsets["class_index"].to_list() == list(range(1000))
    assert synsets["wnid"].n_unique() == 1000


def test_synset_text_as_in_the_paper(synsets):
    tench = synsets.row(0, named=True)
    assert tench["name"] == "tench" and tench["lemmas"] == ["tench", "Tinca tinca"]
    assert tench["synset_text"] == (
        "tench which is freshwater dace-like game fish of Europe "
        "and western Asia noted for ability to survive outside water"
    )
    shark = synsets.row(2, named=True)
    assert shark["name"] == "great white shark" and shark["synset_text"].startswith(
        "great white shark which is "
    )


def test_lexnames_from_debian_man_page():
    lines = lexnames_from_man_page().splitlines()
    assert len(lines) == 45
    assert lines[0] == "00\tadj.all\t3" and lines[3] == "03\tnoun.Tops\t1" and lines[-1] == "44\tadj.ppl\t3"


def test_build_wordnet_corpus_is_readable_by_nltk(tmp_path, monkeypatch):
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    root = build_wordnet_corpus(tmp_path)
    assert not any(p.is_symlink() for p in root.iterdir())
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path), *nltk.data.path])
    wn = WordNetCorpusReader(str(root), None)
    assert wn.synset_from_pos_and_offset("n", 2129165).name() == "lion.n.01"
