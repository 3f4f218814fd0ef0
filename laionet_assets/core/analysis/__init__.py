"""The paper's measurements: accuracy and its per-class differences, intra-class similarity and
its intervals, the threshold sweep, the text-matched recreation, image-to-synset similarity and
ImageNet-Captions."""
