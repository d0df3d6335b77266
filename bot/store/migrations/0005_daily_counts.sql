-- Anonymous figures for the partnership: how many conversations took each route, chose each
-- need, were in each area (an area id, never finer than a postcode district), and were shown
-- each service, per day. No chat id, no session, no time finer than a day. Kept for a set
-- time (PATHWAYS_STATS_DAYS), then deleted.
CREATE TABLE daily_counts (
    day   TEXT NOT NULL,
    kind  TEXT NOT NULL,
    value TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (day, kind, value)
);
