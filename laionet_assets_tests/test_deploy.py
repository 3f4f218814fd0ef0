"""The Kubernetes deployment, checked: every environment variable, volume and port that the Helm
values (deploy/k8s/values.yaml) and the Dockerfile reference exists in the settings table or is
read by the code (ours, or the library whose variable it is); volumes are declared where mounted
and mounted where a path variable points; the gRPC port and module agree everywhere; and a GPU
step's pod, built by dagster-k8s itself, asks for a GPU and tolerates the GPU node pool's taint."""

import json
import re
from importlib.util import find_spec
from pathlib import Path

import pytest
import yaml

from laionet_assets import DEFINITIONS_MODULE
from laionet_assets.settings import SETTINGS
from laionet_assets.testing.fixtures import REPO

VALUES = yaml.safe_load((REPO / "deploy" / "k8s" / "values.yaml").read_text())
DOCKERFILE = (REPO / "Dockerfile").read_text()
# Variables that belong to a library: the library whose source must read them.
LIBRARY_VARIABLES = {
    "DAGSTER_HOME": "dagster",
    "DAGSTER_DISABLE_TELEMETRY": "dagster",
    "HF_HOME": "huggingface_hub",
    "PYTHONUNBUFFERED": None,  # the interpreter's own
}


def dockerfile_env() -> dict[str, str]:
    """``ENV`` pairs of the Dockerfile (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    pairs = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            pairs.update(re.findall(r"(\w+)=(\S+)", line))
    return pairs


def values_env() -> dict[str, str]:
    [deployment] = VALUES["dagster-user-deployments"]["deployments"]
    return {e["name"]: e["value"] for e in deployment["env"]}


def package_source(package: str) -> str:
    root = Path(find_spec(package).origin).parent
    return "\n".join(p.read_text(errors="replace") for p in root.rglob("*.py"))


def test_every_variable_is_a_setting_or_read_by_the_code():
    known = {s.env for s in SETTINGS if s.env}
    ours = package_source("laionet_assets")
    variables = {*dockerfile_env(), *values_env()}
    launcher = VALUES["runLauncher"]["config"]["k8sRunLauncher"]["envVars"]
    assert set(launcher) <= set(values_env()), "the run launcher forwards a variable the deployment lacks"
    for name in variables:
        if name.startswith("LAIONET_"):
            assert name in known or f'"{name}"' in ours, f"{name} is no setting and nothing reads it"
        else:
            assert name in LIBRARY_VARIABLES, f"{name}: whose variable is it?"
            library = LIBRARY_VARIABLES[name]
            assert library is None or name in package_source(library), f"{library} does not read {name}"
    # where both set a variable, they agree
    shared = set(dockerfile_env()) & set(values_env())
    assert {k: dockerfile_env()[k] for k in shared} == {k: values_env()[k] for k in shared}


def test_volumes_are_declared_and_mounted_where_the_paths_point():
    [deployment] = VALUES["dagster-user-deployments"]["deployments"]
    launcher = VALUES["runLauncher"]["config"]["k8sRunLauncher"]
    docker_volumes = set(json.loads(re.search(r"^VOLUME (\[.*\])$", DOCKERFILE, re.M).group(1)))
    for where in (deployment, launcher):
        declared = {v["name"] for v in where["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in where["volumeMounts"]}
        assert set(mounts.values()) == declared
        assert set(mounts) == docker_volumes  # every volume of the image is mounted
    # the variables that name folders point into a mounted volume
    for name in ("LAIONET_HOME", "HF_HOME"):
        for env in (dockerfile_env(), values_env()):
            assert any(env[name] == m or env[name].startswith(m + "/") for m in docker_volumes), name


def test_the_grpc_port_and_module_agree():
    import tomllib

    [deployment] = VALUES["dagster-user-deployments"]["deployments"]
    exposed = re.search(r"^EXPOSE (\d+)$", DOCKERFILE, re.M).group(1)
    command = json.loads(re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.M).group(1))
    module = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["dagster"]["module_name"]
    assert str(deployment["port"]) == exposed == command[command.index("-p") + 1]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", module] and command[-1] == module
    assert find_spec(module) is not None and module == DEFINITIONS_MODULE
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    assert workspace["load_from"][0]["python_module"]["module_name"] == module


def test_the_image_installs_the_lock_file_and_runs_as_a_user():
    assert "requirements.lock" in DOCKERFILE and "wordnet-base" in DOCKERFILE
    user = re.search(r"^USER (\S+)$", DOCKERFILE, re.M)
    assert user and user.group(1) not in ("root", "0")
    lock = (REPO / "requirements.lock").read_text()
    assert re.search(r"^dagster-k8s==", lock, re.M) and re.search(r"^dagster-celery==", lock, re.M)


@pytest.mark.parametrize("asset", ["text_sims", "model_predictions"])
def test_a_gpu_step_pod_asks_for_a_gpu_and_tolerates_the_gpu_pool(asset):
    from dagster_k8s.job import DagsterK8sJobConfig, construct_dagster_k8s_job, get_user_defined_k8s_config

    from laionet_assets.definitions import defs

    op = defs.resolve_assets_def(asset).op
    job = construct_dagster_k8s_job(
        DagsterK8sJobConfig(job_image="laionet-assets:test", dagster_home="/opt/dagster/dagster_home"),
        ["dagster", "api", "execute_step"],
        "step-job",
        get_user_defined_k8s_config(op.tags),
    )
    pod = job.spec.template.spec
    [container] = pod.containers
    assert container.resources.limits == {"nvidia.com/gpu": "1"}
    assert any(t.key == "nvidia.com/gpu" and t.effect == "NoSchedule" for t in pod.tolerations)
    assert op.tags["dagster-celery/queue"] == "gpu"


def test_a_cpu_step_pod_asks_for_no_gpu():
    from dagster_k8s.job import get_user_defined_k8s_config

    from laionet_assets.definitions import defs

    op = defs.resolve_assets_def("lemma_matches").op
    assert not get_user_defined_k8s_config(op.tags).container_config
    assert "dagster-celery/queue" not in op.tags


def test_the_code_location_loads_from_a_wheel_install(tmp_path):
    """As the Dockerfile installs it (a wheel, not an editable checkout): the code location loads
    every stage's definitions, and the shipped vocabularies come with it."""
    import shutil
    import subprocess
    import sys
    import zipfile

    from laionet_assets.definitions import defs

    source, wheel, site = tmp_path / "source", tmp_path / "wheel", tmp_path / "site"
    # the files the Dockerfile copies, so that no build folder of the checkout leaks into the wheel
    shutil.copytree(
        REPO / "laionet_assets", source / "laionet_assets", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", str(source), "-w", str(wheel)], check=True
    )
    [built] = wheel.glob("*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(built)], check=True)
    probe = (
        "import json, laionet_assets\n"
        f"from {DEFINITIONS_MODULE} import defs\n"
        "from laionet_assets.core.text.vocabularies import load_vocabulary\n"
        "print(json.dumps({'file': laionet_assets.__file__, 'assets': len(list(defs.assets)),\n"
        "  'checks': len(list(defs.asset_checks)), 'jobs': sorted(j.name for j in defs.jobs),\n"
        "  'sensors': len(list(defs.sensors)), 'cifar100': load_vocabulary('cifar100').height}))\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(site),
        "HOME": str(tmp_path),
        "LAIONET_HOME": str(tmp_path),
    }
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    ).stdout
    loaded = json.loads(out.strip().splitlines()[-1])
    assert Path(loaded["file"]).is_relative_to(site)
    assert loaded["assets"] == len(list(defs.assets)) and loaded["checks"] == len(list(defs.asset_checks))
    assert loaded["jobs"] == sorted(j.name for j in defs.jobs) and loaded["sensors"] == len(
        list(defs.sensors)
    )
    assert loaded["cifar100"] == 100
    with zipfile.ZipFile(built) as archive:  # the package alone: no tests, no build leftovers
        tops = {name.split("/")[0] for name in archive.namelist()}
    assert tops == {"laionet_assets", next(t for t in tops if t.endswith(".dist-info"))}
