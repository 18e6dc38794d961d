"""The ``sth`` command: local runs of sthlib (train, evaluate, similarity, reproduce --local), the service's
processes (serve, worker, admin) and ``sth remote``, a client of the REST API (cli/remote/)."""
