//! Table definitions shared by the SQLite and PostgreSQL migrations. Both
//! dialects store the same types: ids are 64-bit, times are naive UTC.

diesel::table! {
    appliance (id) {
        id -> BigInt,
        hostname -> Text,
        iqn_domain -> Text,
        iqn_date -> Text,
        timezone -> Text,
        setup_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        password_hash -> Text,
        role -> Text,
        created_at -> Timestamp,
        password_changed_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> BigInt,
        token_hash -> Text,
        user_id -> BigInt,
        csrf_token -> Text,
        address -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_throttle (key) {
        key -> Text,
        username -> Text,
        attempts -> Integer,
        window_start -> Timestamp,
        next_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        actor -> Nullable<Text>,
        address -> Nullable<Text>,
        action -> Text,
        target -> Nullable<Text>,
        outcome -> Text,
        detail -> Text,
    }
}

diesel::table! {
    enclosures (id) {
        id -> BigInt,
        ident -> Text,
        vendor -> Text,
        product -> Text,
        label -> Text,
        slot_count -> Integer,
        present -> Bool,
        observed_at -> Timestamp,
        method -> Text,
        note -> Nullable<Text>,
        elements -> Text,
    }
}

diesel::table! {
    drives (id) {
        id -> BigInt,
        ident -> Text,
        serial -> Text,
        wwn -> Nullable<Text>,
        vendor -> Text,
        model -> Text,
        size_bytes -> BigInt,
        rotational -> Bool,
        transport -> Text,
        dev_name -> Nullable<Text>,
        by_id -> Nullable<Text>,
        health -> Text,
        health_reason -> Text,
        temperature_c -> Nullable<Integer>,
        power_on_hours -> Nullable<BigInt>,
        present -> Bool,
        first_seen_at -> Timestamp,
        observed_at -> Timestamp,
        short_test_at -> Nullable<Timestamp>,
        long_test_at -> Nullable<Timestamp>,
        medium_errors -> BigInt,
        io_errors -> BigInt,
        last_io_error -> Nullable<Text>,
        last_io_error_at -> Nullable<Timestamp>,
        last_bay -> Nullable<Text>,
        signatures -> Text,
    }
}

diesel::table! {
    bays (id) {
        id -> BigInt,
        enclosure_id -> BigInt,
        slot -> Integer,
        label -> Text,
        drive_id -> Nullable<BigInt>,
        status -> Text,
        locate -> Bool,
        fault -> Bool,
        observed_at -> Timestamp,
        locate_since -> Nullable<Timestamp>,
        fault_since -> Nullable<Timestamp>,
        fault_drive_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    kernel_log_cursors (boot_id) {
        boot_id -> Text,
        next_seq -> BigInt,
    }
}

diesel::table! {
    observations (id) {
        id -> BigInt,
        observed_at -> Timestamp,
        backend -> Text,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    smart_samples (id) {
        id -> BigInt,
        drive_id -> BigInt,
        at -> Timestamp,
        health -> Text,
        reason -> Text,
        temperature_c -> Nullable<Integer>,
        power_on_hours -> Nullable<BigInt>,
        data -> Text,
    }
}

diesel::table! {
    alerts (id) {
        id -> BigInt,
        rule -> Text,
        subject -> Text,
        severity -> Text,
        summary -> Text,
        detail -> Text,
        link -> Nullable<Text>,
        raised_at -> Timestamp,
        updated_at -> Timestamp,
        cleared_at -> Nullable<Timestamp>,
        acked_at -> Nullable<Timestamp>,
        acked_by -> Nullable<Text>,
        ack_note -> Nullable<Text>,
    }
}

diesel::table! {
    wall_links (id) {
        id -> BigInt,
        name -> Text,
        key_hash -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        last_used_from -> Nullable<Text>,
    }
}

diesel::table! {
    appliances (id) {
        id -> Text,
        hostname -> Text,
        version -> Text,
        console_url -> Nullable<Text>,
        state -> Text,
        reason -> Text,
        stale_after_seconds -> BigInt,
        last_seen_at -> Timestamp,
    }
}

diesel::table! {
    notification_channels (id) {
        id -> BigInt,
        name -> Text,
        kind -> Text,
        min_severity -> Text,
        remind_hours -> Integer,
        settings -> Text,
        secret -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    notification_deliveries (id) {
        id -> BigInt,
        channel_id -> BigInt,
        alert_id -> Nullable<BigInt>,
        event -> Text,
        created_at -> Timestamp,
        attempts -> Integer,
        next_at -> Nullable<Timestamp>,
        job_id -> Nullable<BigInt>,
        delivered_at -> Nullable<Timestamp>,
        gave_up_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::joinable!(smart_samples -> drives (drive_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(bays -> enclosures (enclosure_id));
diesel::joinable!(bays -> drives (drive_id));

diesel::allow_tables_to_appear_in_same_query!(
    appliance,
    users,
    sessions,
    api_tokens,
    login_throttle,
    audit_log,
    enclosures,
    drives,
    bays,
    observations,
    smart_samples,
    pools,
    pool_members,
    pool_removals,
    scrubs,
    sector_heals,
    volumes,
    snapshots,
    targets,
    target_initiators,
    lio_view,
);

diesel::table! {
    queue_clock (id) {
        id -> BigInt,
        enqueued -> BigInt,
    }
}

diesel::table! {
    jobs (id) {
        id -> BigInt,
        kind -> Text,
        summary -> Text,
        payload -> Text,
        state -> Text,
        requested_by -> Text,
        enqueued_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        progress_percent -> Integer,
        progress_message -> Text,
        runner -> Nullable<Text>,
        fencing_token -> BigInt,
        lease_expires_at -> Nullable<Timestamp>,
        cancel_requested -> Bool,
        attempts -> Integer,
        error -> Nullable<Text>,
        retry_of -> Nullable<BigInt>,
        step_count -> Integer,
        steps_done -> Integer,
        step_started_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    job_resources (job_id, resource) {
        job_id -> BigInt,
        resource -> Text,
    }
}

diesel::table! {
    open_resources (resource, job_id) {
        resource -> Text,
        job_id -> BigInt,
    }
}

diesel::table! {
    job_steps (job_id, position) {
        job_id -> BigInt,
        position -> Integer,
        name -> Text,
        state -> Text,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        detail -> Text,
    }
}

diesel::table! {
    job_commands (id) {
        id -> BigInt,
        job_id -> BigInt,
        step -> Integer,
        fencing_token -> BigInt,
        argv -> Text,
        exit_code -> Nullable<Integer>,
        signal -> Nullable<Integer>,
        timed_out -> Bool,
        duration_ms -> BigInt,
        stdout -> Text,
        stderr -> Text,
        truncated -> Bool,
        at -> Timestamp,
    }
}

diesel::table! {
    noop_runs (id) {
        id -> BigInt,
        job_id -> BigInt,
        resource -> Text,
        fencing_token -> BigInt,
        runner -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    blocked_resources (resource) {
        resource -> Text,
        job_id -> BigInt,
        reason -> Text,
        blocked_at -> Timestamp,
    }
}

diesel::joinable!(job_resources -> jobs (job_id));
diesel::joinable!(blocked_resources -> jobs (job_id));
diesel::joinable!(job_steps -> jobs (job_id));
diesel::joinable!(job_commands -> jobs (job_id));

diesel::allow_tables_to_appear_in_same_query!(
    jobs,
    job_resources,
    job_steps,
    job_commands,
    noop_runs,
    queue_clock,
    open_resources,
    blocked_resources
);

diesel::table! {
    pools (id) {
        id -> BigInt,
        name -> Text,
        level -> Text,
        write_hole -> Text,
        chunk_kib -> Integer,
        uuid -> Nullable<Text>,
        lifecycle -> Text,
        scrub_every_days -> Integer,
        created_by -> Text,
        created_at -> Timestamp,
        observed -> Nullable<Text>,
        vg -> Nullable<Text>,
        observed_at -> Nullable<Timestamp>,
        thin -> Nullable<Text>,
    }
}

diesel::table! {
    pool_members (pool_id, drive_id) {
        pool_id -> BigInt,
        drive_id -> BigInt,
        role -> Text,
        position -> Integer,
    }
}

diesel::table! {
    pool_removals (id) {
        id -> BigInt,
        pool_id -> BigInt,
        drive_id -> BigInt,
        enclosure -> Nullable<Text>,
        slot -> Nullable<Integer>,
        reason -> Text,
        removed_at -> Timestamp,
        replaced_by -> Nullable<BigInt>,
        settled_at -> Nullable<Timestamp>,
        verdict -> Nullable<Text>,
        verdict_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sector_heals (id) {
        id -> BigInt,
        drive_id -> BigInt,
        pool_id -> BigInt,
        lba -> BigInt,
        source -> Text,
        job_id -> Nullable<BigInt>,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        healed -> Nullable<Bool>,
        result -> Nullable<Text>,
    }
}

diesel::table! {
    scrubs (id) {
        id -> BigInt,
        pool_id -> BigInt,
        job_id -> Nullable<BigInt>,
        repair -> Bool,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        mismatches -> Nullable<BigInt>,
        result -> Nullable<Text>,
    }
}

diesel::table! {
    volumes (id) {
        id -> BigInt,
        name -> Text,
        pool_id -> BigInt,
        lv -> Text,
        thin -> Bool,
        size_bytes -> BigInt,
        serial -> Text,
        wwn -> Text,
        lifecycle -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        observed -> Nullable<Text>,
        front -> Nullable<Text>,
        observed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    snapshots (id) {
        id -> BigInt,
        volume_id -> BigInt,
        name -> Text,
        lifecycle -> Text,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    targets (volume_id) {
        volume_id -> BigInt,
        iqn -> Text,
        alias -> Text,
        backstore -> Text,
        device -> Text,
        portals -> Text,
        open_access -> Bool,
        chap_user -> Nullable<Text>,
        chap_secret -> Nullable<Text>,
        mutual_user -> Nullable<Text>,
        mutual_secret -> Nullable<Text>,
        lifecycle -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        sessions -> Nullable<Text>,
        observed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    lio_view (id) {
        id -> BigInt,
        observed -> Text,
        observed_at -> Timestamp,
    }
}

diesel::table! {
    target_initiators (volume_id, iqn) {
        volume_id -> BigInt,
        iqn -> Text,
    }
}

diesel::table! {
    link_identity (id) {
        id -> BigInt,
        cert_pem -> Text,
        key_pem -> Text,
        fingerprint -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    pairing_codes (id) {
        id -> BigInt,
        secret_hash -> Text,
        address -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        used_by -> Nullable<Text>,
    }
}

diesel::table! {
    replications (volume) {
        volume -> Text,
        pool -> Text,
        peer -> Text,
        role -> Text,
        state -> Text,
        interval_s -> BigInt,
        rpo_s -> BigInt,
        bandwidth -> Nullable<Text>,
        compress -> Bool,
        seq -> BigInt,
        consistent_at -> Nullable<Timestamp>,
        inflight_seq -> Nullable<BigInt>,
        inflight_base -> Nullable<BigInt>,
        inflight_at -> Nullable<Timestamp>,
        pending_bytes -> BigInt,
        done_bytes -> BigInt,
        resume_offset -> BigInt,
        receiving_until -> Nullable<Timestamp>,
        throughput_bps -> BigInt,
        source_target -> Nullable<Text>,
        last_error -> Nullable<Text>,
        last_error_at -> Nullable<Timestamp>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    replication_transfers (id) {
        id -> BigInt,
        volume -> Text,
        role -> Text,
        seq -> BigInt,
        base -> Nullable<BigInt>,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        data_bytes -> BigInt,
        wire_bytes -> BigInt,
        result -> Text,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    job_secrets (job_id) {
        job_id -> BigInt,
        secret -> Text,
    }
}

diesel::table! {
    peers (name) {
        name -> Text,
        address -> Text,
        fingerprint -> Text,
        paired_at -> Timestamp,
        paired_by -> Text,
        last_seen_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::joinable!(volumes -> pools (pool_id));
diesel::joinable!(snapshots -> volumes (volume_id));
diesel::joinable!(targets -> volumes (volume_id));
diesel::joinable!(target_initiators -> targets (volume_id));
diesel::joinable!(pool_members -> pools (pool_id));
diesel::joinable!(pool_members -> drives (drive_id));
diesel::joinable!(scrubs -> pools (pool_id));
diesel::joinable!(pool_removals -> pools (pool_id));
