-- Volumes: logical volumes in a pool's volume group, each exported through
-- its front device baystack-<name>. What an administrator asked for is
-- written by the web with the job; what the agent sees (the logical
-- volume, the front device) by the agent. The unit serial, and the NAA WWN
-- LIO derives from it, are fixed when the volume is made, so initiators
-- and multipath know the LUN again after a reboot.
CREATE TABLE volumes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    pool_id BIGINT NOT NULL REFERENCES pools (id),
    lv TEXT NOT NULL,
    thin BOOLEAN NOT NULL,
    size_bytes BIGINT NOT NULL,
    serial TEXT NOT NULL UNIQUE,
    wwn TEXT NOT NULL,
    lifecycle TEXT NOT NULL CHECK (lifecycle IN ('creating', 'ready', 'deleting')),
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    observed TEXT,
    front TEXT,
    observed_at TIMESTAMP
);

-- Thin snapshots of a volume (logical volume <volume>.<name>).
CREATE TABLE snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    volume_id BIGINT NOT NULL REFERENCES volumes (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    lifecycle TEXT NOT NULL CHECK (lifecycle IN ('creating', 'ready', 'deleting')),
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (volume_id, name)
);

-- A volume's iSCSI target, as the database (the source of truth) wants it
-- in the kernel. CHAP secrets are kept here for the agent to write to
-- configfs; no page, API answer, job payload or log shows them.
CREATE TABLE targets (
    volume_id BIGINT NOT NULL PRIMARY KEY REFERENCES volumes (id) ON DELETE CASCADE,
    iqn TEXT NOT NULL UNIQUE,
    alias TEXT NOT NULL,
    backstore TEXT NOT NULL UNIQUE,
    device TEXT NOT NULL,
    portals TEXT NOT NULL,
    open_access BOOLEAN NOT NULL,
    chap_user TEXT,
    chap_secret TEXT,
    mutual_user TEXT,
    mutual_secret TEXT,
    lifecycle TEXT NOT NULL CHECK (lifecycle IN ('exporting', 'exported', 'unexporting')),
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    sessions TEXT,
    observed_at TIMESTAMP
);

CREATE TABLE target_initiators (
    volume_id BIGINT NOT NULL REFERENCES targets (volume_id) ON DELETE CASCADE,
    iqn TEXT NOT NULL,
    PRIMARY KEY (volume_id, iqn)
);

-- A pool's thin pool as the agent last saw it (its fullness is watched).
ALTER TABLE pools ADD COLUMN thin TEXT;

-- LIO as the agent last read it from configfs (one row): what the target
-- page's sessions and the reconcile page's list of objects Baystack did not
-- make are drawn from. No secret is in it.
CREATE TABLE lio_view (
    id BIGINT NOT NULL PRIMARY KEY CHECK (id = 1),
    observed TEXT NOT NULL,
    observed_at TIMESTAMP NOT NULL
);
