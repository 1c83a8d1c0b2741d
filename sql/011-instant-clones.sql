-- Instant clones (issue 20). provisioning: how a pool's desktops are made,
-- 'linked' (a qcow2 overlay on the image, booted) or 'instant' (forked by
-- vdi-hostd from a running parent of the image: no boot, shared memory).
-- suspend_after_disconnect_s: a desktop with a user but no client for this
-- long is suspended to disk (its memory goes back to the host); the user's
-- next launch resumes it before the ticket is handed out. NULL: never.
ALTER TABLE pools ADD COLUMN provisioning text NOT NULL DEFAULT 'linked'
    CHECK (provisioning IN ('linked', 'instant'));
ALTER TABLE pools ADD COLUMN suspend_after_disconnect_s integer
    CHECK (suspend_after_disconnect_s > 0);
