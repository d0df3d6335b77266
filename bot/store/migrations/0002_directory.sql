-- The service directory, kept by service managers. Each row holds the canonical record of an
-- entry as JSON (what export writes); `version` counts changes to one service so that two
-- editors cannot overwrite each other unknowingly. directory_meta.version counts changes to
-- the directory as a whole, so a running bot knows when to reload it.
CREATE TABLE areas (
    id   TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE services (
    id         TEXT PRIMARY KEY,
    data       TEXT NOT NULL,
    version    INTEGER NOT NULL DEFAULT 1,
    updated_at TEXT NOT NULL
);
CREATE TABLE directory_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO directory_meta (key, value) VALUES ('version', '0');
