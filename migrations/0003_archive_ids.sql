-- The ids a room message had live, so that join history and MAM replay it
-- with the same ones (XEP-0359): the message's XMPP id (the client's id for
-- the user's own messages, the network's id for the others), and the
-- client's origin-id for the user's own messages. NULL in older rows: the
-- archive id stands in.
ALTER TABLE archive ADD COLUMN xmpp_id TEXT;
ALTER TABLE archive ADD COLUMN origin_id TEXT;
