-- Replicated volumes, one row per volume on each side: its role here
-- (source or replica), its peer, its settings, its last consistent point
-- (the newest snapshot both sides hold) and the point in flight.
CREATE TABLE replications (
    volume TEXT NOT NULL PRIMARY KEY,
    pool TEXT NOT NULL,
    peer TEXT NOT NULL,
    role TEXT NOT NULL,
    state TEXT NOT NULL,
    interval_s BIGINT NOT NULL,
    rpo_s BIGINT NOT NULL,
    bandwidth TEXT,
    compress BOOLEAN NOT NULL,
    seq BIGINT NOT NULL,
    consistent_at TIMESTAMP,
    inflight_seq BIGINT,
    inflight_base BIGINT,
    inflight_at TIMESTAMP,
    pending_bytes BIGINT NOT NULL,
    done_bytes BIGINT NOT NULL,
    resume_offset BIGINT NOT NULL,
    receiving_until TIMESTAMP,
    throughput_bps BIGINT NOT NULL,
    source_target TEXT,
    last_error TEXT,
    last_error_at TIMESTAMP,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- Each transfer of a point, on each side: what it carried and how it
-- ended.
CREATE TABLE replication_transfers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    volume TEXT NOT NULL,
    role TEXT NOT NULL,
    seq BIGINT NOT NULL,
    base BIGINT,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    data_bytes BIGINT NOT NULL,
    wire_bytes BIGINT NOT NULL,
    result TEXT NOT NULL,
    error TEXT
);
CREATE INDEX replication_transfers_volume ON replication_transfers (volume, id);
