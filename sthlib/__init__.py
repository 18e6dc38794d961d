"""sthlib: pixel-similarity (S^Th) regularized training and robustness evaluation.

The ML library of STh Lab. It knows nothing of the web, the database or Celery.
Modules that the API may import (they never import torch): ``sthlib.specs``, ``sthlib.data``.
"""

__version__ = "0.1.0"
