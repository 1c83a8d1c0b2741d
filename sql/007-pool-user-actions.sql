-- What users may do to their own desktop from the portal (issue 24):
-- 'restart' resets the VM through its host; 'logoff' ends the session by
-- refreshing the desktop (floating pools only: a dedicated desktop keeps
-- its user's disk, which a refresh would wipe).
ALTER TABLE pools ADD COLUMN user_actions text[] NOT NULL DEFAULT '{restart}'
    CHECK (user_actions <@ ARRAY['restart', 'logoff']::text[]);
ALTER TABLE pools ADD CONSTRAINT pools_logoff_floating
    CHECK (kind = 'floating' OR NOT ('logoff' = ANY (user_actions)));
UPDATE pools SET user_actions = '{restart,logoff}' WHERE kind = 'floating';
