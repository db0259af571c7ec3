"""gunicorn settings for production: ``gunicorn -c config/gunicorn.py config.wsgi``.

Environment: ``GUNICORN_BIND`` (default 127.0.0.1:8000, behind the TLS proxy),
``GUNICORN_WORKERS`` (default 2 × CPUs), ``GUNICORN_ACCESS_LOG`` ("-" for stderr; off by default).
"""

from __future__ import annotations

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", str(2 * (os.cpu_count() or 1))))
timeout = 30
graceful_timeout = 20
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
# The default format logs the request line with its query string ("%(r)s") and the Referer
# ("%(f)s"): the entry link carries the crowd worker's id (PROLIFIC_PID, workerId), and pages
# reached from it send that URL as Referer. Log the path alone ("%(U)s") and no Referer.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
