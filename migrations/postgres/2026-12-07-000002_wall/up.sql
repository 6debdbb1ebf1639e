-- Wall links: a secret URL per NOC screen, named, revocable, with the last
-- time and place it was used. Only the SHA-256 of the secret is kept.
CREATE TABLE wall_links (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    last_used_at TIMESTAMP,
    last_used_from TEXT
);

-- The appliances whose agents share this database: each registers itself
-- at every look, with a summary the fleet wall shows. An appliance whose
-- last_seen_at grows old is shown as no longer reporting.
CREATE TABLE appliances (
    id TEXT NOT NULL PRIMARY KEY,
    hostname TEXT NOT NULL,
    version TEXT NOT NULL,
    console_url TEXT,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    stale_after_seconds BIGINT NOT NULL,
    last_seen_at TIMESTAMP NOT NULL
);
