-- One row per live conversation, and only while it lives. Nothing a person types is stored:
-- `answers` holds structured choices (route, nation, area id) as JSON; `messages` holds
-- [message id, unix time sent] pairs so that a wipe can remove them; `flags` notes one-off
-- explanations already given.
CREATE TABLE sessions (
    chat_key        TEXT PRIMARY KEY,
    state           TEXT NOT NULL,
    locale          TEXT NOT NULL,
    answers         TEXT NOT NULL DEFAULT '{}',
    return_to       TEXT,
    messages        TEXT NOT NULL DEFAULT '[]',
    live_message_id INTEGER,
    flags           TEXT NOT NULL DEFAULT '[]',
    updated_at      TEXT NOT NULL
);
CREATE INDEX sessions_by_updated_at ON sessions (updated_at);
