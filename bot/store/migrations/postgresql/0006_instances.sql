-- PostgreSQL's form of ../0006_instances.sql: a wipe claimed by the instance carrying it out
-- until `claimed_until`, and the Telegram updates already handled (a key and an hour, no chat),
-- so that several instances share the sweep and an update delivered twice is handled once.
ALTER TABLE pending_wipes ADD COLUMN claimed_until timestamptz;

CREATE TABLE handled_updates (
    update_key  text COLLATE "C" PRIMARY KEY,
    handled_at  timestamptz NOT NULL
);
CREATE INDEX handled_updates_by_time ON handled_updates (handled_at);
