"""The service's state: SQLAlchemy models, engine and migrations."""
