"""Intra-class similarity (paper §3.2, §4.1, Appendix D): image embeddings, per-class statistics
and comparisons, ImageNetV2's selection frequencies, image-to-synset similarity."""
