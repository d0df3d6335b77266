-- Messages that must still be deleted from a chat: a conversation that was ended (quick exit,
-- idle) or a farewell message that should not linger. A row stays until the deletion has
-- succeeded, so a network fault or a crash never loses the ids; the sweep retries what is due.
CREATE TABLE pending_wipes (
    id        INTEGER PRIMARY KEY,
    chat_key  TEXT NOT NULL,
    messages  TEXT NOT NULL,
    due_at    TEXT NOT NULL
);
CREATE INDEX pending_wipes_by_due_at ON pending_wipes (due_at);
