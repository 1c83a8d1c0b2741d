-- Host daemon and pool manager (issue 9): what the reconcile loop (pools/)
-- needs to provision desktops on hosts, and what vdi-hostd reports back.

-- Boot material of an image version, so the loop can import it on any
-- host (PUT /api/v1/images/{id} on vdi-hostd). path stays the disk.
ALTER TABLE image_versions ADD COLUMN kernel_path text;
ALTER TABLE image_versions ADD COLUMN initrd_path text;
ALTER TABLE image_versions ADD COLUMN cmdline text NOT NULL DEFAULT 'console=ttyS0';

-- Provisioning and boot failures in a row (reset when the desktop boots),
-- the last reason, and quarantine: a desktop that failed too often is left
-- alone, with the reason, until an admin deals with it.
ALTER TABLE desktops ADD COLUMN failures integer NOT NULL DEFAULT 0 CHECK (failures >= 0);
ALTER TABLE desktops ADD COLUMN last_error text;
ALTER TABLE desktops ADD COLUMN quarantine_reason text;

-- Idle power-off of dedicated desktops (seconds; NULL = never).
ALTER TABLE pools ADD COLUMN idle_poweroff_s integer CHECK (idle_poweroff_s > 0);

-- Heartbeat timeout after which the loop marks a host down.
ALTER TABLE hosts ADD COLUMN down_reason text;

-- VM events as vdi-hostd reported them (booted, powered_off, crashed, ...).
-- vm_id is the host's VM id (the desktop id for desktops made by the loop);
-- names are copied so rows survive deletes.
CREATE TABLE desktop_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    host_name       text NOT NULL,
    vm_id           text NOT NULL,
    event           text NOT NULL CHECK (event ~ '^[A-Za-z0-9_-]+$'),
    detail          text NOT NULL DEFAULT ''
);
CREATE INDEX desktop_events_vm ON desktop_events (vm_id, at);
CREATE INDEX desktop_events_at ON desktop_events (at);

-- A launch of a powered-off dedicated desktop asks the loop to start it.
ALTER TABLE desktops DROP CONSTRAINT desktops_pending_action_check;
ALTER TABLE desktops ADD CONSTRAINT desktops_pending_action_check
    CHECK (pending_action IN ('refresh', 'delete', 'start'));
