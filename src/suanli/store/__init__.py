"""State stores: where a running suanli keeps its jobs and decisions (SQLite or PostgreSQL)."""
