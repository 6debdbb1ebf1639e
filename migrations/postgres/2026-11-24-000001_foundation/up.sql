-- The appliance's identity, written once by the first-boot wizard. The CHECK
-- makes this a single row, so two wizards finishing at once cannot both win.
CREATE TABLE appliance (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    hostname TEXT NOT NULL,
    iqn_domain TEXT NOT NULL,
    iqn_date TEXT NOT NULL,
    timezone TEXT NOT NULL,
    setup_at TIMESTAMP NOT NULL
);

CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    created_at TIMESTAMP NOT NULL,
    password_changed_at TIMESTAMP NOT NULL
);

-- Server-side sessions: the cookie holds a random secret, the table only its
-- SHA-256, so a copy of the database cannot be used to log in.
CREATE TABLE sessions (
    id BIGSERIAL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    address TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE login_failures (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL,
    address TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_username ON login_failures (username, at);
CREATE INDEX login_failures_address ON login_failures (address, at);

CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMP NOT NULL,
    actor TEXT,
    address TEXT,
    action TEXT NOT NULL,
    target TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'denied', 'failed')),
    detail TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);

-- Observed state, written only by the agent's observer.
CREATE TABLE enclosures (
    id BIGSERIAL PRIMARY KEY,
    ident TEXT NOT NULL UNIQUE,
    vendor TEXT NOT NULL,
    product TEXT NOT NULL,
    label TEXT NOT NULL,
    slot_count INTEGER NOT NULL,
    present BOOLEAN NOT NULL,
    observed_at TIMESTAMP NOT NULL
);

CREATE TABLE drives (
    id BIGSERIAL PRIMARY KEY,
    ident TEXT NOT NULL UNIQUE,
    serial TEXT NOT NULL,
    wwn TEXT,
    vendor TEXT NOT NULL,
    model TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    rotational BOOLEAN NOT NULL,
    transport TEXT NOT NULL,
    dev_name TEXT,
    by_id TEXT,
    health TEXT NOT NULL CHECK (health IN ('healthy', 'warning', 'failing', 'unknown')),
    health_reason TEXT NOT NULL,
    temperature_c INTEGER,
    power_on_hours BIGINT,
    present BOOLEAN NOT NULL,
    first_seen_at TIMESTAMP NOT NULL,
    observed_at TIMESTAMP NOT NULL
);

CREATE TABLE bays (
    id BIGSERIAL PRIMARY KEY,
    enclosure_id BIGINT NOT NULL REFERENCES enclosures (id) ON DELETE CASCADE,
    slot INTEGER NOT NULL,
    label TEXT NOT NULL,
    drive_id BIGINT REFERENCES drives (id) ON DELETE SET NULL,
    status TEXT NOT NULL,
    locate BOOLEAN NOT NULL,
    fault BOOLEAN NOT NULL,
    observed_at TIMESTAMP NOT NULL,
    UNIQUE (enclosure_id, slot)
);

-- When the observer last completed a pass, and what it said if it could not.
CREATE TABLE observations (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    observed_at TIMESTAMP NOT NULL,
    backend TEXT NOT NULL,
    error TEXT
);
