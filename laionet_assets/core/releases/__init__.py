"""Image-text releases as published: their layouts, finding and reading their parts, the
registry of parts in a home, the embeddings shipped beside them, and sample releases."""
