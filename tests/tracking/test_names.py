"""Store location and registry names (no MLflow server needed)."""

from spinerisk import tracking


def test_tracking_uri_follows_the_resolved_store(monkeypatch):
    monkeypatch.setenv("SPINERISK_TRACKING_URI", "sqlite:////tmp/x.db")
    assert tracking.tracking_uri() == "sqlite:////tmp/x.db"
    assert tracking.tracking_uri("postgresql://h/db") == "postgresql://h/db"


def test_registry_names_and_aliases():
    assert tracking.registered_name("response") == "spinerisk-response"
    assert tracking.site_alias("S05") == "site-S05"
    assert tracking.CANDIDATE == "candidate"


def test_versions_and_commit_are_strings():
    versions = tracking.package_versions()
    assert versions["xgboost"] and versions["scikit-learn"]
    assert isinstance(tracking.git_commit(), str)
