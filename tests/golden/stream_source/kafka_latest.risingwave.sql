create table if not exists transactions__raw (
    tx_id varchar,
    ts timestamptz,
    cc_num varchar,
    amount numeric,
    n integer,
    big bigint,
    x double precision,
    ok boolean,
    meta jsonb,
    day date
) append only
with (
    connector = 'kafka',
    topic = 'tx.events-v2',
    properties.bootstrap.server = 'redpanda:9092',
    scan.startup.mode = 'latest'
)
format plain encode json
