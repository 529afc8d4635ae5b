-- The run ledger schema as version 1 of this tool created it (meta.schema_version = 1).
-- Kept as shipped, to build version-1 ledgers in the upgrade tests; never change it.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shards (
    shard_key TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    model TEXT NOT NULL,
    input_path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    request_count INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    required_sections TEXT NOT NULL,
    state TEXT NOT NULL,
    file_id TEXT,
    batch_id TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS shard_lessons (
    shard_key TEXT NOT NULL,
    lesson_id TEXT NOT NULL,
    max_completion_tokens INTEGER NOT NULL,
    reasoning_effort TEXT,
    PRIMARY KEY (shard_key, lesson_id)
);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    shard_key TEXT NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL,
    input_file_id TEXT,
    output_file_id TEXT,
    error_file_id TEXT,
    request_total INTEGER NOT NULL DEFAULT 0,
    request_completed INTEGER NOT NULL DEFAULT 0,
    request_failed INTEGER NOT NULL DEFAULT 0,
    errors TEXT NOT NULL DEFAULT '[]',
    created_at REAL,
    expires_at REAL,
    prompt_tokens_estimate INTEGER NOT NULL DEFAULT 0,
    output_tokens_estimate INTEGER NOT NULL DEFAULT 0,
    checked_at REAL,
    processed_at REAL,
    usage TEXT
);
CREATE TABLE IF NOT EXISTS lessons (
    lesson_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    batch_id TEXT,
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    retry_budget INTEGER,
    retry_effort TEXT,
    output_tokens INTEGER,
    force INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS lessons_by_batch ON lessons (batch_id);
