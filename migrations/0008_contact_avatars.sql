-- Each stored contact's picture (`contacts`), so that after a restart
-- their presence carries the XEP-0153 hash and their vCard and XEP-0084
-- data the picture at once, and the network telling the same URL again
-- fetches nothing. The picture itself is kept, not only its URL: it is at
-- most 128 KiB (the avatars code fetches no more), and a URL alone would
-- need a fetch before the first vCard answer (and may have expired).
-- picture is the bytes in standard base64 (TEXT: the one column type the
-- sqlx Any driver reads alike on SQLite and PostgreSQL); the hash and the
-- type are read from the bytes when loaded. A changed picture replaces
-- the row; a person with no picture has none. Deleted with the
-- registration.
CREATE TABLE contact_avatars (
    user_jid TEXT NOT NULL,
    network TEXT NOT NULL,
    contact TEXT NOT NULL,
    url TEXT NOT NULL,
    picture TEXT NOT NULL,
    PRIMARY KEY (user_jid, network, contact)
);
