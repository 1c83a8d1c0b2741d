-- Clipboard policy per pool (issue 19), a data-loss-prevention setting:
-- which way text may pass between a desktop and its clients through the
-- guest agent. vdi-vm enforces it (--clipboard) for SPICE and RDP alike.
ALTER TABLE pools ADD COLUMN clipboard text NOT NULL DEFAULT 'both'
    CHECK (clipboard IN ('both', 'guest-to-client', 'client-to-guest', 'none'));
