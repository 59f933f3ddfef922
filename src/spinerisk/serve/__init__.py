"""The FastAPI app and the clinician web page (see :mod:`spinerisk.serve.app`).
Decision support for research use."""

from spinerisk.serve.app import API_KEY_ENV, PredictRequest, check_api_key, create_app, new_api_key

__all__ = ["API_KEY_ENV", "PredictRequest", "check_api_key", "create_app", "new_api_key"]
