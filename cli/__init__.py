"""The ``sth`` command: local runs of sthlib (and, later, a client of the REST API)."""
