-- PostgreSQL's form of ../0002_directory.sql: the service directory, each entry's canonical
-- record as JSON text; `version` counts changes to one service, directory_meta.version to the
-- whole directory.
CREATE TABLE areas (
    id   text COLLATE "C" PRIMARY KEY,
    data text NOT NULL
);
CREATE TABLE services (
    id         text COLLATE "C" PRIMARY KEY,
    data       text NOT NULL,
    version    bigint NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL
);
CREATE TABLE directory_meta (
    key   text COLLATE "C" PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO directory_meta (key, value) VALUES ('version', '0');
