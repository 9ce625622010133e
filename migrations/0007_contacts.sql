-- The network people the gateway made a user's contacts (a direct chat, a
-- contact the network reported): written when one is first reported or
-- renamed, so that after a restart they are known at once (their presence
-- sent, probes answered, no second roster push or subscription request).
-- in_roster is 1 when a privileged roster set put them in the user's
-- roster (XEP-0356), 0 when they asked for a subscription (XEP-0100).
-- Deleted with the registration.
CREATE TABLE contacts (
    user_jid TEXT NOT NULL,
    network TEXT NOT NULL,
    contact TEXT NOT NULL,
    name TEXT NOT NULL,
    in_roster BIGINT NOT NULL,
    PRIMARY KEY (user_jid, network, contact)
);
