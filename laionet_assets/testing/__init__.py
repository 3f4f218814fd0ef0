"""Helpers shared by the tests, the benchmarks and the demo: a local web of images, sample homes
and releases, real Dagster processes, and the slow obvious implementations fast paths are checked
against.  Nothing in the pipeline imports this package."""
