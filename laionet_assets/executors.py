"""The executor partitions fan out over, chosen with ``LAIONET_EXECUTOR``.

* ``multiprocess`` (default): steps in local processes, ``LAIONET_MAX_CONCURRENT`` at a time (2).
* ``in_process``: everything in the run's process (debugging).
* ``k8s``: one Kubernetes job per step (``dagster-k8s``); ``text_sims`` asks for one
  ``nvidia.com/gpu`` through its ``dagster-k8s/config`` tag.  See ``deploy/k8s/``.
* ``celery``: steps on Celery workers (``dagster-celery``); GPU steps go to the ``gpu`` queue.
  See ``deploy/celery/``.
"""

import dagster as dg

from laionet_assets.settings import process_setting, setting

EXECUTORS = setting("executor").choices


def executor_from_env():
    try:
        name = process_setting("executor")
    except ValueError as exc:
        raise ValueError(f"unknown LAIONET_EXECUTOR: {exc}") from None
    if name == "multiprocess":
        steps = process_setting("max_concurrent")
        if steps < 1:
            raise ValueError(f"LAIONET_MAX_CONCURRENT={steps!r} is not a positive integer")
        return dg.multiprocess_executor.configured({"max_concurrent": steps})
    if name == "in_process":
        return dg.in_process_executor
    if name == "k8s":
        try:
            from dagster_k8s import k8s_job_executor
        except ImportError as exc:
            raise ValueError(
                "LAIONET_EXECUTOR=k8s needs dagster-k8s: pip install dagster-k8s (see deploy/k8s/)"
            ) from exc
        return k8s_job_executor
    if name == "celery":
        try:
            from dagster_celery import celery_executor
        except ImportError as exc:
            raise ValueError(
                "LAIONET_EXECUTOR=celery needs dagster-celery: "
                "pip install dagster-celery (see deploy/celery/)"
            ) from exc
        return celery_executor
    raise ValueError(f"unknown LAIONET_EXECUTOR {name!r}; expected one of {EXECUTORS}")


# Tags that place GPU steps on GPU nodes or workers; inert on the local executors.
GPU_STEP_TAGS = {
    "dagster-k8s/config": {
        "container_config": {
            "resources": {"limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}}
        }
    },
    "dagster-celery/queue": "gpu",
}
