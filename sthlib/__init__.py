"""sthlib: pixel-similarity (S^Th) regularized training and robustness evaluation.

The ML library of STh Lab. It knows nothing of the web, the database or Celery.
The API and the store import only its torch-free modules (their docstrings say so: specs, jobkinds, jobspecs,
evalspecs, specjson, validation, data, simstats, variants, preflight, sweep_summary, evaluate.results, metrics,
aggregate and plots, reproduce.protocols, claims and report); tests/test_import_contracts.py checks that the API
process loads no torch.
"""

__version__ = "0.1.0"
