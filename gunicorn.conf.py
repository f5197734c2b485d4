"""gunicorn settings read from the working directory (`gunicorn wsgi:app`).

The access log line leaves out the query string (%(U)s is the path alone):
search pages carry names in it (`/clinic/?q=...`), and logs hold no health
information. Command-line flags still override anything here.

The app is loaded once, in the master, and each worker is forked from it
(`preload_app`): the libraries, models and compiled code it loaded (most of a
worker's memory) stay shared between the workers instead of being loaded again
by each. Measured with benchmarks/memory.py on PostgreSQL after the bench's
load: each worker's own memory (USS) 56 MiB instead of 71, its share of the
machine's (PSS) 64 instead of 78, VmRSS 88-91 instead of 96-98. A new release
therefore needs a restart of the master (or USR2), not only HUP.
"""

from __future__ import annotations

import gc
import sys

access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'

preload_app = True


def pre_fork(server, worker) -> None:
    # The collector writes into every object it examines, which would copy the
    # master's pages into each worker; frozen objects are never examined.
    gc.freeze()


def post_fork(server, worker) -> None:
    # create_app opens no connection (tests/test_imports.py), but a connection
    # made in the master must never be used by two processes: drop the pool's.
    portal = sys.modules.get("wsgi")
    if portal is not None:
        from portal.extensions import db

        with portal.app.app_context():
            db.engine.dispose(close=False)
