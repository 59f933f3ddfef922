"""MLflow tracking (the only place that imports mlflow): the store, the experiment run
with nested trial runs, the risk-returning pyfunc, the registry (``spinerisk-<task>``,
alias ``candidate``; site versions alias ``site-<NAME>``)."""

from spinerisk.tracking.pyfunc import RiskModelPyfunc, input_columns, plain_input, signature
from spinerisk.tracking.store import (
    CANDIDATE,
    DEFAULT_URI,
    ExperimentRun,
    configure,
    experiment_run,
    git_commit,
    load_pyfunc,
    load_risk_model,
    package_versions,
    register_model,
    register_site_version,
    registered_name,
    site_alias,
    tracking_uri,
)

__all__ = ["CANDIDATE", "DEFAULT_URI", "ExperimentRun", "RiskModelPyfunc", "configure",
           "experiment_run", "git_commit", "input_columns", "load_pyfunc", "load_risk_model",
           "package_versions", "plain_input", "register_model", "register_site_version",
           "registered_name", "signature", "site_alias", "tracking_uri"]
