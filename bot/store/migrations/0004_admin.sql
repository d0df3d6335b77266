-- Service managers. Owners come from configuration (PATHWAYS_OWNER_IDS); editors are added
-- and removed by owners from the chat. Ids are numeric Telegram user ids, never usernames.
CREATE TABLE editors (
    user_id   INTEGER PRIMARY KEY,
    added_by  INTEGER NOT NULL,
    added_at  TEXT NOT NULL
);
-- Every change to the directory made from the chat: who, when, before and after (JSON
-- records, NULL before an addition), and the service version it produced.
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    user_id     INTEGER NOT NULL,
    service_id  TEXT NOT NULL,
    action      TEXT NOT NULL,
    before      TEXT,
    after       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    undone      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX audit_by_service ON audit (service_id, id);
CREATE INDEX audit_by_user ON audit (user_id, id);
-- Where a manager is in the admin chat (a menu, an edit waiting for confirmation ...).
CREATE TABLE admin_sessions (
    user_id     INTEGER PRIMARY KEY,
    state       TEXT NOT NULL,
    data        TEXT NOT NULL DEFAULT '{}',
    updated_at  TEXT NOT NULL
);
