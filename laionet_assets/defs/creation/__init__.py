"""LAIONet's creation (paper §2): the synsets, each part's lemma matches and text similarities,
LAIONet of a release selected from its parts, its blocking checks, the release sensor and the
refresh schedule."""
