-- The pool loop's release timer reads each desktop's latest one-time
-- ticket (pools/snapshot.c): a ticket not yet expired keeps a floating
-- desktop from being released, and its issue counts as activity, so a
-- user who reconnects is not cut off while their client connects
-- (issue 23). This index makes that one backward index step per desktop
-- instead of a scan of every ticket ever issued.
CREATE INDEX tickets_desktop_created ON tickets (desktop_id, created_at);
