create table if not exists clicks__raw (
    tx_id uuid,
    ts timestamptz,
    cc_num text,
    amount numeric(12,2),
    n integer,
    big bigint,
    x double precision,
    ok boolean,
    meta jsonb,
    day date
)
