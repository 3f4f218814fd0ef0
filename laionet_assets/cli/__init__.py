"""``laionet``: run LAIONet creation on a LAION release, the bundled demo, or the Dagster UI.

    laionet demo                          # bundled sample release, web and image folders, offline profile
    laionet demo --release-layouts        # the text side on a sample of every supported release layout
    laionet run --release PATH [--name NAME] [--profile P] [--select ASSETS] [--home DIR]
    laionet ui [--home DIR] [--port 3000]
    laionet export --set laionet|top50|text_matched|image_selected --format imagefolder|webdataset|hf
                   [--release NAME] [--out PATH] [--overwrite]  # a set as a dataset, with its card
    laionet where ASSET [--partition KEY] [--home DIR]  # the files of an asset, one per line
    laionet recover [--home DIR]          # after a killed run: mark it failed, free its gpu slot
    laionet reexecute RUN_ID [--home DIR] # a failed run from its failure, through LAIONET_EXECUTOR
    laionet worker [--queue dagster|gpu]  # a Celery worker for LAIONET_EXECUTOR=celery

Runs go through a persistent Dagster instance under ``<home>/dagster`` so they show in the UI.
"""

from laionet_assets.cli.parser import main

__all__ = ["main"]
