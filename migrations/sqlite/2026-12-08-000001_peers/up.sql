-- This appliance's identity on the replication channel: a self-signed
-- certificate and its key, made once, whichever of the console (making a
-- pairing code) or the agent (starting its channel) needs it first. Peers
-- pin the certificate's SHA-256.
CREATE TABLE link_identity (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    cert_pem TEXT NOT NULL,
    key_pem TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- One-time pairing codes made here for another appliance to pair with
-- this one. Only the SHA-256 of each secret is kept; a code is used once.
CREATE TABLE pairing_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    secret_hash TEXT NOT NULL UNIQUE,
    address TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    used_by TEXT
);

-- The appliances this one is paired with: each by its host name, where its
-- channel listens, and the SHA-256 of its certificate, the only one its
-- connections are accepted with.
CREATE TABLE peers (
    name TEXT NOT NULL PRIMARY KEY,
    address TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    paired_at TIMESTAMP NOT NULL,
    paired_by TEXT NOT NULL,
    last_seen_at TIMESTAMP,
    last_error TEXT
);

-- A secret a job needs that must not be in its payload (a pasted pairing
-- code's): read by the job's step, deleted when the job is done with it.
CREATE TABLE job_secrets (
    job_id BIGINT NOT NULL PRIMARY KEY,
    secret TEXT NOT NULL
);
