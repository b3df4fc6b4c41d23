"""Persistence: SQLAlchemy models, migrations, and the queries the rest of orderbot uses."""
