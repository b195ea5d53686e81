"""Gunicorn settings for the multiprocess example (see gunicorn_app.py for how to run it)."""

from pyrometer_gunicorn import child_exit, on_starting  # noqa: F401  (the hooks multiprocess mode needs)

bind = "127.0.0.1:8000"
workers = 4
chdir = __import__("os").path.dirname(__file__) or "."
