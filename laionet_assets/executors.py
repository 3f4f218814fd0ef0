"""The executor partitions fan out over, chosen with ``LAIONET_EXECUTOR``.

* ``multiprocess`` (default): steps in local processes, ``LAIONET_MAX_CONCURRENT`` at a time (2).
* ``in_process``: everything in the run's process (debugging).
* ``k8s``: one Kubernetes job per step (``dagster-k8s``); ``text_sims`` asks for one
  ``nvidia.com/gpu`` through its ``dagster-k8s/config`` tag.  See ``deploy/k8s/``.
* ``celery``: steps on Celery workers (``dagster-celery``); GPU steps go to the ``gpu`` queue.
  The broker is ``LAIONET_CELERY_BROKER`` (the result backend ``LAIONET_CELERY_BACKEND``, by
  default the broker), checked before the run's first step.  See ``deploy/celery/``.
"""

import dagster as dg

from laionet_assets.settings import SettingError, process_setting, setting


class BrokerUnreachable(RuntimeError):
    """The Celery broker did not answer; the message names its URL (password hidden)."""


def check_broker(url: str, timeout: float = 5.0) -> None:
    """Connect to a Celery broker once, or raise :class:`BrokerUnreachable` naming it."""
    from kombu import Connection
    from kombu.utils.url import maybe_sanitize_url

    try:
        with Connection(url, connect_timeout=timeout) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0.5, timeout=timeout)
    except Exception as exc:  # kombu raises the transport's own errors (socket, redis, amqp)
        raise BrokerUnreachable(
            f"Celery broker {maybe_sanitize_url(url)} is unreachable ({type(exc).__name__}: {exc}); "
            f"start it, or point {setting('celery_broker').env} at it"
        ) from None


def celery_urls() -> tuple[str, str]:
    """The broker and result-backend URLs the executor and the workers (``celery_app``) share."""
    broker = process_setting("celery_broker")
    return broker, process_setting("celery_backend") or broker


def celery_executor_from_env() -> dg.ExecutorDefinition:
    """dagster-celery's executor with the broker and backend of the settings, which checks the
    broker when a run creates it: a broker that does not answer fails the run before any step."""
    from dagster_celery.executor import CELERY_CONFIG, celery_executor

    @dg.executor(
        name="celery", config_schema=CELERY_CONFIG, requirements=dg.multiple_process_executor_requirements()
    )
    def laionet_celery_executor(init_context):
        check_broker(init_context.executor_config["broker"])
        return celery_executor.executor_creation_fn(init_context)

    broker, backend = celery_urls()
    return laionet_celery_executor.configured({"broker": broker, "backend": backend}, name="celery")


EXECUTORS = setting("executor").choices


def executor_from_env():
    name = process_setting("executor")  # a SettingError names the variable and its choices
    if name == "multiprocess":
        steps = process_setting("max_concurrent")
        if steps < 1:
            raise SettingError(f"{setting('max_concurrent').env}={steps!r} is not a positive integer")
        return dg.multiprocess_executor.configured({"max_concurrent": steps})
    if name == "in_process":
        return dg.in_process_executor
    if name == "k8s":
        try:
            from dagster_k8s import k8s_job_executor
        except ImportError as exc:
            raise ValueError(
                f"{setting('executor').env}=k8s needs dagster-k8s: pip install -e .[cluster] "
                "(see deploy/k8s/)"
            ) from exc
        return k8s_job_executor
    if name == "celery":
        try:
            return celery_executor_from_env()
        except ImportError as exc:
            raise ValueError(
                f"{setting('executor').env}=celery needs dagster-celery: pip install -e .[cluster] "
                "(see deploy/celery/)"
            ) from exc
    raise ValueError(f"unknown {setting('executor').env} {name!r}; expected one of {EXECUTORS}")


# Tags that place GPU steps on GPU nodes or workers; inert on the local executors.
GPU_STEP_TAGS = {
    "dagster-k8s/config": {
        "container_config": {
            "resources": {"limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}}
        },
        # GPU node pools are tainted nvidia.com/gpu (GKE, EKS and AKS do so by default)
        "pod_spec_config": {
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
        },
    },
    "dagster-celery/queue": "gpu",
}
