"""Text alone (paper §4.2–4.3): ImageNet-Captions against the synsets, the LAION caption index, the
nearest LAION caption of each ImageNet caption, and the text-matched dataset's similarity."""
