"""gunicorn settings for Dekiru's app servers: `gunicorn -c gunicorn.conf.py` (the Procfile and deploy/ use it).

Everything a deployment changes comes from the environment (docs/deployment.md):
WEB_CONCURRENCY (worker processes, default 2 × cores + 1), PORT or GUNICORN_BIND, GUNICORN_THREADS,
GUNICORN_TIMEOUT, GUNICORN_KEEPALIVE, GUNICORN_LOG_LEVEL, FORWARDED_ALLOW_IPS (read by gunicorn itself).

The access log carries no query string, no referrer, no cookies and no client address, and the signed tokens in
paths (cancel links, self-assessment links, private calendar feeds) are replaced by [token]: query strings and
those paths are as good as a password to a resident's booking. With DEKIRU_LOG_FORMAT=json each line is a JSON
object, like the application's own logs.
"""

import json
import multiprocessing
import os
import re
import time
from pathlib import Path

from gunicorn.glogging import Logger

wsgi_app = "cms.wsgi:application"
bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"

# Processes, not threads, by default: chart rendering (matplotlib) and the database connections per process are
# simplest that way. GUNICORN_THREADS > 1 switches to the threaded worker (also needed for keep-alive).
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
# Large spreadsheet exports and the annual report take seconds, not minutes; anything longer is a stuck worker.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
# Keep above the load balancer's idle timeout when it keeps connections open (threaded workers only).
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Recycle workers now and then so that a slow leak never grows; the jitter keeps them from restarting together.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "1000"))
max_requests_jitter = max_requests // 10
# Not preloaded: `kill -HUP` (systemctl reload) starts fresh workers that import the new code after an upgrade.
preload_app = False
# The workers' liveness file on tmpfs: a slow disk must not get healthy workers killed.
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None
# No control socket (gunicorn ≥ 25): systemd signals the master instead, and two instances on one host (another
# port) would otherwise fight over the same socket in $HOME.
control_socket_disable = True

loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
errorlog = "-"
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None
# %(U)s is the path without the query string; no %(h)s (address), %(f)s (referrer), %(a)s (user agent).
access_log_format = '%(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'

# A signed token always contains a colon (value:signature), and never a slash.
_SIGNED_SEGMENT = re.compile(r"(?<=/)[^/]*:[^/]*")


def redact_path(path: str) -> str:
    return _SIGNED_SEGMENT.sub("[token]", path)


class RedactingLogger(Logger):
    """gunicorn's logger, with only the atoms that cannot identify anyone, and tokens taken out of paths."""

    SAFE_ATOMS = ("t", "m", "U", "H", "s", "B", "b", "M", "D", "T", "L", "p")

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        atoms = {name: atoms[name] for name in self.SAFE_ATOMS if name in atoms}
        atoms["U"] = redact_path(atoms.get("U") or "")
        atoms["r"] = f"{atoms.get('m')} {atoms['U']} {atoms.get('H')}"
        return atoms

    def access(self, resp, req, environ, request_time):
        if os.environ.get("DEKIRU_LOG_FORMAT", "text").lower() != "json":
            return super().access(resp, req, environ, request_time)
        if not self.access_log_enabled:
            return None
        atoms = self.atoms(resp, req, environ, request_time)
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "level": "INFO", "logger": "gunicorn.access",
                 "method": atoms.get("m"), "path": atoms["U"], "status": int(atoms.get("s") or 0),
                 "bytes": atoms.get("B"), "duration_ms": atoms.get("M")}
        self.access_log.info(json.dumps(entry, ensure_ascii=False))
        return None


logger_class = RedactingLogger
