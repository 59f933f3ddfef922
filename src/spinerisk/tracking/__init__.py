"""MLflow tracking (the only place that imports mlflow): the store, the experiment run
with nested trial runs, the risk-returning pyfunc, the registry (``spinerisk-<task>``,
alias ``candidate``, moved only on request; site versions alias ``site-<NAME>``).

Names are imported on first use, so that ``spinerisk.tracking.location`` (where the store
is) can be read without importing mlflow.
"""

from importlib import import_module

from spinerisk.tracking.location import ENV_VAR, ModelLookupError, StoreLocation, resolve_store

_LAZY = {
    "RiskModelPyfunc": "pyfunc", "signature": "pyfunc",
    "check_input": "flavor", "input_columns": "flavor", "input_contract": "flavor",
    "plain_input": "flavor",
    "CANDIDATE": "store", "ExperimentRun": "store", "configure": "store",
    "experiment_run": "store", "git_commit": "store", "load_pyfunc": "store",
    "load_risk_model": "store", "move_alias": "store", "package_versions": "store",
    "register_model": "store",
    "register_site_version": "store", "registered_name": "store", "site_alias": "store",
    "tracking_uri": "store",
    "describe_registry": "resolve", "resolve_model_uri": "resolve",
    "Registered": "local", "load_registered": "local",
}

__all__ = ["CANDIDATE", "ENV_VAR", "ExperimentRun", "ModelLookupError", "Registered",
           "RiskModelPyfunc", "StoreLocation", "check_input", "configure",
           "describe_registry", "experiment_run", "git_commit", "input_columns",
           "input_contract", "load_pyfunc", "load_registered", "load_risk_model",
           "move_alias", "package_versions", "plain_input", "register_model",
           "register_site_version", "registered_name", "resolve_model_uri",
           "resolve_store", "signature", "site_alias", "tracking_uri"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'spinerisk.tracking' has no attribute {name!r}")
    value = getattr(import_module(f"spinerisk.tracking.{_LAZY[name]}"), name)
    globals()[name] = value
    return value
