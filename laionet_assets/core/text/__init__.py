"""The caption side of the method (paper §2): the synsets and other vocabularies, lemma matching,
caption-to-synset-text similarity, and the selection of LAIONet."""
