-- One row per live conversation, and only while it lives. Nothing a person types is stored:
-- `answers` holds structured choices (route, nation, area id) as JSON.
CREATE TABLE sessions (
    chat_key    TEXT PRIMARY KEY,
    state       TEXT NOT NULL,
    locale      TEXT NOT NULL,
    answers     TEXT NOT NULL DEFAULT '{}',
    return_to   TEXT,
    message_ids TEXT NOT NULL DEFAULT '[]',
    updated_at  TEXT NOT NULL
);
CREATE INDEX sessions_by_updated_at ON sessions (updated_at);
