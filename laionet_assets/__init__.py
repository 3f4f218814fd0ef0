"""LAIONet (Shirali & Hardt, arXiv 2306.15769) as Dagster assets."""

from pathlib import Path

# The code location's module, as pyproject's [tool.dagster], workspace.yaml, the Dockerfile and
# the Helm values name it (test_deploy checks they agree); the Python code names it only here.
DEFINITIONS_MODULE = "laionet_assets.definitions"

# The Dagster instance's configuration a new home gets (SQLite, telemetry off, the gpu pool).
INSTANCE_TEMPLATE = Path(__file__).with_name("dagster.yaml")
