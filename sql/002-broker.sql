-- Broker state (issue 8): what a portal session needs to decide
-- entitlements without asking the directory again, pool descriptions for
-- the portal, desktops marked for the reconcile loop, and failed sign-ins
-- for login throttling shared by every broker.

-- Group DNs (or local group names) of the signed-in user, lowercased, as
-- the directory resolved them at sign-in (nested groups included).
ALTER TABLE portal_sessions ADD COLUMN groups text[] NOT NULL DEFAULT '{}';
ALTER TABLE portal_sessions ADD COLUMN backend text NOT NULL DEFAULT 'ldap';
ALTER TABLE portal_sessions ADD COLUMN email text NOT NULL DEFAULT '';

ALTER TABLE pools ADD COLUMN description text NOT NULL DEFAULT '';

-- An admin's request for the reconcile loop (pools/): 'refresh' drops the
-- overlay and recreates it, 'delete' destroys the desktop.
ALTER TABLE desktops ADD COLUMN pending_action text
    CHECK (pending_action IN ('refresh', 'delete'));

-- Failed sign-ins, one row per failure. Throttling counts rows per account
-- (lowercased login) and per client address inside a window; a successful
-- sign-in clears the account's rows. Old rows are pruned by the broker.
CREATE TABLE login_failures (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    account         text NOT NULL,
    remote_addr     inet
);
CREATE INDEX login_failures_account ON login_failures (account, at);
CREATE INDEX login_failures_addr ON login_failures (remote_addr, at);
CREATE INDEX login_failures_at ON login_failures (at);
