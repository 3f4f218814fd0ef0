"""LAIONet as a dataset people load: laionet_export (``laionet export``)."""
