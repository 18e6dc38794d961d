"""Persistence shared by the API and the workers: SQLAlchemy models, sessions, checkpoint blobs in chunks, API
keys and the job state machine. Knows nothing of FastAPI or Celery."""
