-- Several instances of the bot on one database (PostgreSQL; on SQLite, with one process, these
-- cost nothing and change nothing).
--
-- A wipe is claimed by the instance carrying it out, until `claimed_until`: another instance's
-- sweep leaves it alone until then, and takes it up if the claim runs out (the instance died).
ALTER TABLE pending_wipes ADD COLUMN claimed_until TEXT;

-- Telegram updates already handled, so that one delivered twice (a webhook retried, or given to
-- two instances) is handled once. Only the update's own key and the hour it was handled: no
-- chat, no person, no finer time. Pruned by the sweep after a day (Telegram keeps an update
-- for 24 hours at most).
CREATE TABLE handled_updates (
    update_key  TEXT PRIMARY KEY,
    handled_at  TEXT NOT NULL
);
CREATE INDEX handled_updates_by_time ON handled_updates (handled_at);
