-- Bounded per-user archive of bridged rooms (XEP-0313 on the room JID, and
-- join history). seq is the archive id: unique and increasing.
CREATE TABLE archive (
    user_jid TEXT NOT NULL,
    network TEXT NOT NULL,
    room TEXT NOT NULL,
    seq BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    nick TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (user_jid, network, room, seq)
);
CREATE INDEX archive_by_ts ON archive (ts);
