-- Desktops in the browser (issue 21): "web" is a protocol like spice and
-- rdp. A web ticket also records where its display listens (the host's
-- display address and the VM's web port): vdi-gateway redeems the ticket
-- once, for the signed-in user it was issued to, and relays to there.
ALTER TABLE pools DROP CONSTRAINT pools_protocols_check;
ALTER TABLE pools ADD CONSTRAINT pools_protocols_check
    CHECK (cardinality(protocols) > 0 AND protocols <@ ARRAY['spice', 'rdp', 'web']::text[]);
ALTER TABLE desktop_sessions DROP CONSTRAINT desktop_sessions_protocol_check;
ALTER TABLE desktop_sessions ADD CONSTRAINT desktop_sessions_protocol_check
    CHECK (protocol IN ('spice', 'rdp', 'web'));
ALTER TABLE tickets DROP CONSTRAINT tickets_protocol_check;
ALTER TABLE tickets ADD CONSTRAINT tickets_protocol_check
    CHECK (protocol IN ('spice', 'rdp', 'web'));
ALTER TABLE tickets ADD COLUMN display_host text CHECK (display_host <> ''),
    ADD COLUMN display_port integer CHECK (display_port BETWEEN 1 AND 65535),
    ADD CONSTRAINT tickets_web_route CHECK (protocol <> 'web' OR
        (display_host IS NOT NULL AND display_port IS NOT NULL));
