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
    topic = 'transactions',
    properties.bootstrap.server = 'redpanda:9092',
    scan.startup.mode = 'earliest'
)
format plain encode json
