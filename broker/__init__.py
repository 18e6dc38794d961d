"""The message broker, from both sides of it: broker.sender.JobQueue sends the wake-up messages (the API's
submissions, the worker's sweep advances and the reconciler's re-sends, by task name), broker.waiting reads which
messages wait. Imports store.settings and Celery/kombu/redis only: the API and the worker both use it, and neither
imports the other."""
