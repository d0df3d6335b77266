-- PostgreSQL's form of ../0001_sessions.sql (same table, same meaning): one row per live
-- conversation, and only while it lives. Nothing a person types is stored. Keys compare and
-- sort byte by byte (COLLATE "C"), as in SQLite; the JSON columns are text, kept exactly as
-- written and never looked into by the database.
CREATE TABLE sessions (
    chat_key        text COLLATE "C" PRIMARY KEY,
    state           text NOT NULL,
    locale          text NOT NULL,
    answers         text NOT NULL DEFAULT '{}',
    return_to       text,
    messages        text NOT NULL DEFAULT '[]',
    live_message_id bigint,
    flags           text NOT NULL DEFAULT '[]',
    updated_at      timestamptz NOT NULL
);
CREATE INDEX sessions_by_updated_at ON sessions (updated_at);
