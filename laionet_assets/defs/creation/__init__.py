"""LAIONet's creation (paper §2): the synsets, each part's lemma matches and text similarities,
LAIONet selected from every part, its blocking checks, the release sensor and the refresh schedule."""
