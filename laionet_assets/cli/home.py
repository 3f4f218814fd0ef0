"""The home a command works in: resolved and checked before any work, its Dagster instance's folder
and dagster.yaml, and the variables the code location reads."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from laionet_assets import INSTANCE_TEMPLATE, settings

if TYPE_CHECKING:
    from laionet_assets.core.io.storage import Location


REPO_ROOT = Path(__file__).resolve().parents[2]


def prepare_home(home: str | None, profile: str | None, vocabulary: str | None = None) -> Location:
    """Resolve the home (a folder or an fsspec URL, checked before any work), write its Dagster
    instance's dagster.yaml, and export the variables the code location reads.  Each vocabulary's
    runs go to its own Dagster instance (``instance_folder``)."""
    from laionet_assets.core.io.storage import check_home, home_path
    from laionet_assets.core.text.vocabularies import DEFAULT_VOCABULARY

    root = home_path(home or settings.process_setting("home"))
    check_home(root)
    vocabulary = vocabulary or settings.setting("vocabulary").from_env() or DEFAULT_VOCABULARY
    dagster_home = instance_folder(root, vocabulary)
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    template = INSTANCE_TEMPLATE
    if not config.exists() and template.exists():
        shutil.copyfile(template, config)
    os.environ[settings.setting("home").env] = str(root)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    if profile:
        os.environ[settings.setting("profile").env] = profile
    return root


def instance_folder(root: Location, vocabulary: str) -> Path:
    """The CLI's Dagster instance (SQLite) for a home: ``<vocabulary home>/dagster`` on a local
    home; for a URL home, whose object store cannot hold a database, a local folder named after
    the URL under ``LAIONET_INSTANCES`` (a cluster's instance is its own Postgres)."""
    from laionet_assets.core.io.names import slug
    from laionet_assets.core.io.storage import is_remote
    from laionet_assets.core.text.vocabularies import vocabulary_home

    if is_remote(root):
        root = Path(settings.process_setting("instances")).expanduser() / slug(str(root))
    return vocabulary_home(root, vocabulary) / "dagster"
