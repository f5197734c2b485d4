"""Baseline for the benchmarks: the cheapest possible Flask response.

Served by gunicorn exactly like the portal, so the ratio portal/bare shows what
the portal's own work costs on top of Flask + gunicorn + wrk on this machine.
"""

from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    return {"status": "ok"}
