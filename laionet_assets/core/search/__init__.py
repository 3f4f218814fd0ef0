"""Nearest LAION caption search (paper §4.3): the LanceDB caption index, FAISS shards at LAION
scale, and exact search by chunked matrix products."""
