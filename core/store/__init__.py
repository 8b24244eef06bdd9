"""The append-only SQLite store: the database, its writer thread, locking, faults and repair."""
