-- A suspended desktop (issue 20): its whole state saved to disk on its
-- host and its memory given back, resumed where it stood by its user's
-- next launch or an administrator's start. Shown apart from 'stopped'
-- (powered off, boots afresh) so that admins can tell the two apart.
ALTER TABLE desktops DROP CONSTRAINT desktops_state_check;
ALTER TABLE desktops ADD CONSTRAINT desktops_state_check
    CHECK (state IN ('provisioning', 'ready', 'assigned', 'in_use', 'refreshing',
                     'stopped', 'suspended', 'error', 'deleting'));
