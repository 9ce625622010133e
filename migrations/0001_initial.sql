-- One schema for SQLite and PostgreSQL: TEXT and BIGINT only, composite keys, no
-- engine-specific types.

-- A user's account on one network; credentials sealed by the vault (never plain).
CREATE TABLE registrations (
    user_jid TEXT NOT NULL,
    network TEXT NOT NULL,
    credentials TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_jid, network)
);

-- Per-user settings; scope is '' for the account, or a room or server id.
CREATE TABLE user_settings (
    user_jid TEXT NOT NULL,
    network TEXT NOT NULL,
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (user_jid, network, scope, name)
);

-- Small state a bridge session keeps across restarts (sync positions).
CREATE TABLE session_state (
    user_jid TEXT NOT NULL,
    network TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (user_jid, network, name)
);

-- Bounded map of XMPP message ids to network message ids, for edits,
-- reactions, replies; seq orders entries so that the oldest can be dropped.
CREATE TABLE id_map (
    user_jid TEXT NOT NULL,
    network TEXT NOT NULL,
    xmpp_id TEXT NOT NULL,
    network_id TEXT NOT NULL,
    conversation TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (user_jid, network, xmpp_id)
);
CREATE INDEX id_map_by_network_id ON id_map (user_jid, network, network_id);
CREATE INDEX id_map_by_seq ON id_map (user_jid, network, seq);
