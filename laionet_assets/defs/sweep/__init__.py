"""LAIONet's threshold trade-off: LAIONet rebuilt at several similarity thresholds, with its images,
predictions and intra-class similarity at each."""
