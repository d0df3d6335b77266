"""SQLite storage through aiosqlite: one database file, numbered migrations."""
