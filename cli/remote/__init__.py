"""`sth remote`: the REST API from the command line (STH_URL, STH_API_KEY). One module per group of routes, as in
api/routes: jobs (train, evaluate, sweep, watch, jobs, job, logs, cancel, retry, sweep-result), models (models,
results, download, upload-model), compare, datasets (datasets, upload-dataset, similarity), workers; beside them
http (the client and its errors), follow (progress and --wait) and console (the terminal)."""

# each registers its commands, in the order `sth remote --help` lists them
from cli.remote import jobs, models, compare, datasets, workers  # noqa: F401, I001
from cli.remote.app import remote

__all__ = ["remote"]
