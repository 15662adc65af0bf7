"""The database: connections (``connection``), the embedded PostgreSQL (``embedded``), creating and
replacing objects (``apply``) and loading rows (``push``)."""
