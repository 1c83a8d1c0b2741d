-- Initial schema: inventory (hosts, images, pools, desktops), who may use
-- what (entitlements, assignments), sessions, one-time tickets, audit and
-- login timings. Applied by db_migrate() inside one transaction; the
-- schema_version table itself is created by db_migrate().
--
-- Conventions: bigint identity keys; timestamps are timestamptz; states are
-- text with a CHECK (readable in psql, cheap to extend in a migration);
-- secrets are stored only as lowercase hex SHA-256 (token_hash()).

CREATE TABLE hosts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name <> ''),
    address         text NOT NULL CHECK (address <> ''),
    port            integer NOT NULL DEFAULT 8443 CHECK (port BETWEEN 1 AND 65535),
    state           text NOT NULL DEFAULT 'up'
                    CHECK (state IN ('up', 'down', 'maintenance')),
    vcpus           integer NOT NULL DEFAULT 0 CHECK (vcpus >= 0),
    memory_mb       bigint NOT NULL DEFAULT 0 CHECK (memory_mb >= 0),
    last_heartbeat  timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE images (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]*$'),
    description     text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE image_versions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    image_id        bigint NOT NULL REFERENCES images(id) ON DELETE RESTRICT,
    version         integer NOT NULL CHECK (version > 0),
    path            text NOT NULL CHECK (path <> ''),
    format          text NOT NULL DEFAULT 'qcow2' CHECK (format IN ('qcow2', 'raw')),
    size_bytes      bigint NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
    state           text NOT NULL DEFAULT 'importing'
                    CHECK (state IN ('importing', 'published', 'retired')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (image_id, version)
);

CREATE TABLE pools (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name              text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9_-]*$'),
    display_name      text NOT NULL DEFAULT '',
    kind              text NOT NULL CHECK (kind IN ('dedicated', 'floating')),
    image_version_id  bigint NOT NULL REFERENCES image_versions(id) ON DELETE RESTRICT,
    min_size          integer NOT NULL DEFAULT 0 CHECK (min_size >= 0),
    max_size          integer NOT NULL CHECK (max_size >= min_size),
    ready_size        integer NOT NULL DEFAULT 0 CHECK (ready_size BETWEEN 0 AND max_size),
    protocols         text[] NOT NULL DEFAULT '{spice,rdp}'
                      CHECK (cardinality(protocols) > 0
                             AND protocols <@ ARRAY['spice', 'rdp']::text[]),
    vcpus             integer NOT NULL DEFAULT 2 CHECK (vcpus BETWEEN 1 AND 256),
    memory_mb         integer NOT NULL DEFAULT 2048 CHECK (memory_mb >= 64),
    enabled           boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Who may use a pool: a login name, or a group DN from the directory.
-- Subjects are compared as given: callers store and look up group DNs in
-- the form the directory returns them.
CREATE TABLE pool_entitlements (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pool_id         bigint NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('user', 'group')),
    subject         text NOT NULL CHECK (subject <> ''),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (pool_id, kind, subject)
);
CREATE INDEX pool_entitlements_subject ON pool_entitlements (kind, subject);

CREATE TABLE desktops (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pool_id           bigint NOT NULL REFERENCES pools(id) ON DELETE RESTRICT,
    host_id           bigint REFERENCES hosts(id) ON DELETE RESTRICT,
    image_version_id  bigint NOT NULL REFERENCES image_versions(id) ON DELETE RESTRICT,
    name              text NOT NULL CHECK (name <> ''),
    state             text NOT NULL DEFAULT 'provisioning'
                      CHECK (state IN ('provisioning', 'ready', 'assigned', 'in_use',
                                       'refreshing', 'stopped', 'error', 'deleting')),
    disk_path         text,
    spice_port        integer CHECK (spice_port BETWEEN 1 AND 65535),
    rdp_port          integer CHECK (rdp_port BETWEEN 1 AND 65535),
    created_at        timestamptz NOT NULL DEFAULT now(),
    state_changed_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (pool_id, name),
    UNIQUE (host_id, spice_port),
    UNIQUE (host_id, rdp_port),
    -- A desktop that runs somewhere has a host.
    CHECK (host_id IS NOT NULL OR state IN ('provisioning', 'error', 'deleting'))
);
CREATE INDEX desktops_host ON desktops (host_id);
-- The claim query scans exactly this: ready desktops of one pool.
CREATE INDEX desktops_ready ON desktops (pool_id, id) WHERE state = 'ready';

-- A user's hold on a desktop. Live while released_at IS NULL. History is
-- kept, so the "one live assignment" rules are partial unique indexes.
CREATE TABLE assignments (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pool_id         bigint NOT NULL REFERENCES pools(id) ON DELETE RESTRICT,
    desktop_id      bigint NOT NULL REFERENCES desktops(id) ON DELETE RESTRICT,
    user_name       text NOT NULL CHECK (user_name <> ''),
    user_dn         text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    released_at     timestamptz CHECK (released_at >= created_at)
);
CREATE UNIQUE INDEX assignments_live_user ON assignments (pool_id, user_name)
    WHERE released_at IS NULL;
CREATE UNIQUE INDEX assignments_live_desktop ON assignments (desktop_id)
    WHERE released_at IS NULL;
CREATE INDEX assignments_user ON assignments (user_name);

CREATE TABLE portal_sessions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash      text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    csrf_hash       text NOT NULL CHECK (csrf_hash ~ '^[0-9a-f]{64}$'),
    user_name       text NOT NULL CHECK (user_name <> ''),
    user_dn         text,
    display_name    text NOT NULL DEFAULT '',
    is_admin        boolean NOT NULL DEFAULT false,
    remote_addr     inet,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    CHECK (expires_at > created_at)
);
CREATE INDEX portal_sessions_expires ON portal_sessions (expires_at);
CREATE INDEX portal_sessions_user ON portal_sessions (user_name);

-- Protocol connections to a desktop (from hostd's connect/disconnect events).
CREATE TABLE desktop_sessions (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    desktop_id       bigint NOT NULL REFERENCES desktops(id) ON DELETE CASCADE,
    assignment_id    bigint REFERENCES assignments(id) ON DELETE SET NULL,
    user_name        text NOT NULL CHECK (user_name <> ''),
    protocol         text NOT NULL CHECK (protocol IN ('spice', 'rdp')),
    client_addr      inet,
    connected_at     timestamptz NOT NULL DEFAULT now(),
    disconnected_at  timestamptz CHECK (disconnected_at >= connected_at)
);
CREATE INDEX desktop_sessions_open ON desktop_sessions (desktop_id)
    WHERE disconnected_at IS NULL;

-- One-time credentials for SPICE/RDP. Single use: consuming sets used_at
-- in the same statement that checks it (see db_ticket_consume()).
CREATE TABLE tickets (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash      text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    desktop_id      bigint NOT NULL REFERENCES desktops(id) ON DELETE CASCADE,
    user_name       text NOT NULL CHECK (user_name <> ''),
    protocol        text NOT NULL CHECK (protocol IN ('spice', 'rdp')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    CHECK (expires_at > created_at),
    CHECK (used_at IS NULL OR used_at >= created_at)
);
CREATE INDEX tickets_expires ON tickets (expires_at);

-- Audit trail. Names are copied, not referenced, so rows survive deletes.
CREATE TABLE audit_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    actor           text NOT NULL DEFAULT '',
    action          text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_.-]*$'),
    outcome         text NOT NULL DEFAULT 'ok' CHECK (outcome IN ('ok', 'denied', 'failed')),
    pool_name       text,
    desktop_name    text,
    host_name       text,
    remote_addr     inet,
    detail          text NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_actor ON audit_events (actor, at);

-- Per-phase login latency (directory search, bind, groups, claim, ...).
CREATE TABLE login_timings (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    request_id      text NOT NULL DEFAULT '',
    user_name       text NOT NULL DEFAULT '',
    phase           text NOT NULL CHECK (phase ~ '^[a-z][a-z0-9_]*$'),
    duration_us     bigint NOT NULL CHECK (duration_us >= 0)
);
CREATE INDEX login_timings_at ON login_timings (at);
CREATE INDEX login_timings_phase ON login_timings (phase, at);
