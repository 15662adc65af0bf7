create table if not exists transactions (
    tx_id varchar,
    cc_num varchar,
    amount numeric,
    ts timestamptz
) append only
