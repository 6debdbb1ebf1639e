-- Drives taken out of a pool (failed, failing, or replaced), with the bay
-- each sat in: the guided replacement offers the drive that next sits in
-- that bay, and the bay's fault LED stays lit until the pool is clean
-- again (settled_at). A removed drive can then be re-qualified: written
-- end to end and given a long self-test (verdict).
CREATE TABLE pool_removals (
    id BIGSERIAL PRIMARY KEY,
    pool_id BIGINT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    drive_id BIGINT NOT NULL REFERENCES drives (id),
    enclosure TEXT,
    slot INTEGER,
    reason TEXT NOT NULL,
    removed_at TIMESTAMP NOT NULL,
    replaced_by BIGINT REFERENCES drives (id),
    settled_at TIMESTAMP,
    verdict TEXT,
    verdict_at TIMESTAMP
);
CREATE INDEX pool_removals_pool ON pool_removals (pool_id, removed_at);

-- Unreadable sectors of a pool's member rewritten from the array's
-- redundancy: a repair of just the stripes that hold the sector, started
-- when the drive's self-test or the kernel named the sector, and whether
-- the sector read back afterwards.
CREATE TABLE sector_heals (
    id BIGSERIAL PRIMARY KEY,
    drive_id BIGINT NOT NULL REFERENCES drives (id),
    pool_id BIGINT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    lba BIGINT NOT NULL,
    source TEXT NOT NULL,
    job_id BIGINT REFERENCES jobs (id),
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    healed BOOLEAN,
    result TEXT
);
CREATE INDEX sector_heals_drive ON sector_heals (drive_id, lba);
