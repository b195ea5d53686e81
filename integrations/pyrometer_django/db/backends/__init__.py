"""``sqlite3``, ``postgresql`` and ``mysql``: Django's backends, counting connections, queries and errors."""
