"""App Engine entry point: ``main:app`` for gunicorn with uvicorn workers.

Configuration comes from the environment (app.yaml and env.yaml). On App Engine, signalrisk
requires a PostgreSQL URL and drives warm-ups by polling instead of a background thread.
"""

from signalrisk.api.app import create_app

app = create_app()
