-- Pools: what an administrator asked for (name, level, members and their
-- roles, write-hole protection) is written by the web with the create
-- job; what the agent sees of the array and its volume group is written
-- by the agent (observed, vg, observed_at). A drive belongs to one pool
-- at most.
CREATE TABLE pools (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    level TEXT NOT NULL CHECK (level IN ('raid1', 'raid5', 'raid6', 'raid10')),
    write_hole TEXT NOT NULL CHECK (write_hole IN ('journal', 'ppl', 'none')),
    chunk_kib INTEGER NOT NULL,
    uuid TEXT,
    lifecycle TEXT NOT NULL CHECK (lifecycle IN ('creating', 'ready', 'deleting')),
    scrub_every_days INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    observed TEXT,
    vg TEXT,
    observed_at TIMESTAMP
);

CREATE TABLE pool_members (
    pool_id BIGINT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    drive_id BIGINT NOT NULL REFERENCES drives (id),
    role TEXT NOT NULL CHECK (role IN ('member', 'spare', 'journal')),
    position INTEGER NOT NULL,
    PRIMARY KEY (pool_id, drive_id)
);
CREATE UNIQUE INDEX pool_members_drive ON pool_members (drive_id);

-- Each check or repair of a pool, with what it found.
CREATE TABLE scrubs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pool_id BIGINT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    job_id BIGINT REFERENCES jobs (id),
    repair BOOLEAN NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    mismatches BIGINT,
    result TEXT
);
CREATE INDEX scrubs_pool ON scrubs (pool_id, started_at);

-- What the observer last saw written on each drive (a partition table, a
-- filesystem, an md or LVM signature), one per line; empty for a blank drive.
ALTER TABLE drives ADD COLUMN signatures TEXT NOT NULL DEFAULT '';
