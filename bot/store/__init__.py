"""Storage behind `interface.Store`: SQLite through aiosqlite (the default, one file) or PostgreSQL
through psycopg 3 (`PATHWAYS_DATABASE_URL`), the same statements and numbered migrations on both."""
