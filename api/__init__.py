"""The REST API (FastAPI): records and enqueues jobs, serves results. Never imports torch or the worker."""
