-- A persistent room's password (an IRC channel key), sealed by the vault
-- like credentials, so that the core's rejoin after a restart or an idle
-- session gives it again. NULL for rooms joined without one.
ALTER TABLE rooms ADD COLUMN password TEXT;
