"""The Celery app laionet_assets' workers run: dagster-celery's step task on the broker and
result backend of the settings table (``LAIONET_CELERY_BROKER``, ``LAIONET_CELERY_BACKEND``), the
same URLs the ``celery`` executor submits to.  ``laionet worker`` starts a worker on it::

    laionet worker --queue dagster          # CPU steps (lemma_matches, downloads, checks)
    laionet worker --queue gpu              # on GPU machines: steps tagged dagster-celery/queue=gpu
"""

from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

import laionet_assets.definitions  # noqa: F401  (imported once here: the pool's processes fork with it)
from laionet_assets.executors import celery_urls

broker, backend = celery_urls()
app = make_app(CeleryExecutor.for_cli(broker=broker, backend=backend).app_args())
execute_plan = create_task(app)
