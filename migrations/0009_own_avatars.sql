-- The XMPP user's own picture as published on the XMPP server's upload
-- service (XEP-0363) for a network that shows it by URL (Discord's
-- webhook avatar_url): its XEP-0153 hash (SHA-1 of the bytes), the GET
-- URL and when it was uploaded (Unix seconds), so that a restart with the
-- same picture uploads nothing. One row per user and network, replaced
-- when the picture changes; deleted with the registration.
CREATE TABLE own_avatars (
    user_jid TEXT NOT NULL,
    network TEXT NOT NULL,
    hash TEXT NOT NULL,
    url TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    PRIMARY KEY (user_jid, network)
);
