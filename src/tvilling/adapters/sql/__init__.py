"""SQLAlchemy Core stores for SQLite (default) and PostgreSQL."""
