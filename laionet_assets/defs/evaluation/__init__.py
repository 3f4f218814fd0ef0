"""Predictions and accuracy (paper §3.1, Figs. 1, 5 and 7): classifiers on LAIONet and ImageNet val,
per-class recall and its differences, and the evaluation job."""
