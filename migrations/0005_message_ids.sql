-- Message ids for rich messages (issue 11, items 5 and 8). One schema for
-- SQLite and PostgreSQL: TEXT and BIGINT only.

-- What the archive keeps of each room message besides its text: the
-- network's id for it and its author's network user id (so that an edit,
-- a reaction or a reply from the network finds it), and a payload for what
-- the next issue adds (edits, reactions, replies; NULL when there is none).
-- NULL in older rows.
ALTER TABLE archive ADD COLUMN network_id TEXT;
ALTER TABLE archive ADD COLUMN author_id TEXT;
ALTER TABLE archive ADD COLUMN extra TEXT;
CREATE INDEX archive_by_network_id ON archive (user_jid, network, room, network_id);

-- The id map, scoped to a conversation (a room id or a contact id): which
-- network messages an XMPP message the user sent became, in part order (IRC
-- splits long lines, Discord splits attachments), with the gateway's
-- stanza-id when it gave one. seq orders entries so that the oldest of a
-- user can be dropped; the parts of one message share it. The table of
-- 0001 was never written (nothing used it), so it is made afresh.
DROP TABLE id_map;
CREATE TABLE id_map (
    user_jid TEXT NOT NULL,
    network TEXT NOT NULL,
    conversation TEXT NOT NULL,
    xmpp_id TEXT NOT NULL,
    part BIGINT NOT NULL,
    network_id TEXT NOT NULL,
    stanza_id BIGINT,
    seq BIGINT NOT NULL,
    PRIMARY KEY (user_jid, network, conversation, xmpp_id, part)
);
CREATE INDEX id_map_by_network_id ON id_map (user_jid, network, conversation, network_id);
CREATE INDEX id_map_by_seq ON id_map (user_jid, network, seq);
