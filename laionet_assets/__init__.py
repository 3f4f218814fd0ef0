"""LAIONet (Shirali & Hardt, arXiv 2306.15769) as Dagster assets."""

# The code location's module, as pyproject's [tool.dagster], workspace.yaml, the Dockerfile and
# the Helm values name it (test_deploy checks they agree); the Python code names it only here.
DEFINITIONS_MODULE = "laionet_assets.definitions"
