-- The rooms a user stays in without a client (persistent rooms): written
-- when the network confirms the join of a persistent room, deleted on an
-- explicit leave or when the network says the user left (kicked, banned).
-- At start-up, and when a session starts again after it was ended as idle,
-- the core joins each again with the stored nick, so the archive keeps
-- recording. joined_at is in seconds since the epoch.
CREATE TABLE rooms (
    user_jid TEXT NOT NULL,
    network TEXT NOT NULL,
    room TEXT NOT NULL,
    nick TEXT NOT NULL,
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (user_jid, network, room)
);
