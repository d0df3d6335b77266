-- PostgreSQL's form of ../0005_daily_counts.sql: anonymous figures per day. No chat id, no
-- session, no time finer than a day.
CREATE TABLE daily_counts (
    day   date NOT NULL,
    kind  text COLLATE "C" NOT NULL,
    value text COLLATE "C" NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (day, kind, value)
);
