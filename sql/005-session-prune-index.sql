-- Sign-in prunes the user's dead portal sessions (broker/session.c,
-- session_insert: expired, or idle too long). With an index on user_name
-- alone that DELETE read every session the user has, live ones included,
-- so its cost grew with the user's history (issue 23: rows read per index
-- scan went from about 68 to about 540 in one login storm). Two indexes
-- that end in the time the condition compares let PostgreSQL read only the
-- dead rows (a BitmapOr of two range scans). Both still serve lookups by
-- user_name alone.
CREATE INDEX portal_sessions_user_expires ON portal_sessions (user_name, expires_at);
CREATE INDEX portal_sessions_user_seen ON portal_sessions (user_name, last_seen_at);
DROP INDEX portal_sessions_user;
