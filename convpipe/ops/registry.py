"""The MLflow model registry: each evaluated model becomes a `candidate` version; the gate promotes `champion`."""

from __future__ import annotations

import importlib.metadata

import numpy as np

CANDIDATE, CHAMPION = "candidate", "champion"


def _requirements() -> list[str]:
    # Pinned from this environment: MLflow's own inference would load the model again in a subprocess.
    return [f"{name}=={importlib.metadata.version(name)}" for name in ("tensorflow", "tf-keras")]


def register(model, name: str, example: np.ndarray, tags: dict[str, float]) -> str:
    """Log `model` to the active run as a new version of `name`, tag it and alias it `candidate`."""
    import mlflow
    import mlflow.tensorflow
    from mlflow.models import infer_signature

    signature = infer_signature(example, model.predict(example, verbose=0))
    info = mlflow.tensorflow.log_model(
        model, name="model", registered_model_name=name, signature=signature, pip_requirements=_requirements()
    )
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, f"{value:.6g}")
    client.set_registered_model_alias(name, CANDIDATE, version)
    return version


def promote(name: str, tracking_uri: str, reports: dict[str, float]) -> str:
    """Point `champion` of `name` at the `candidate` version, if its test-metric tags match `reports`."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking_uri)
    try:
        version = client.get_model_version_by_alias(name, CANDIDATE)
    except MlflowException as err:
        raise ValueError(
            f"registered model {name!r} has no {CANDIDATE!r} version (run the evaluate stage first): {err.message}"
        ) from None
    # The gate judged the workspace's reports; refuse to promote a candidate they do not describe
    # (e.g. one registered by a later experiment run).
    for key, tag in version.tags.items():
        if key in reports and abs(float(tag) - reports[key]) > 1e-5 * max(1.0, abs(reports[key])):
            raise ValueError(
                f"{CANDIDATE!r} version {version.version} of {name!r} has {key} = {tag}, but the "
                f"reports the gate checked say {reports[key]:.6g}: re-run `dvc repro` first"
            )
    client.set_registered_model_alias(name, CHAMPION, version.version)
    return str(version.version)
