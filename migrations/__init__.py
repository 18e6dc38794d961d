"""The Alembic migrations (env.py, script.py.mako, versions/), shipped as their own top-level package.

store.db hands this folder to Alembic by its location (importlib.util.find_spec), without importing env.py; nothing
here runs on import."""
