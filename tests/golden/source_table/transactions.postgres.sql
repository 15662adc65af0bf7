create table if not exists transactions (
    tx_id uuid,
    cc_num text,
    amount numeric(12,2),
    ts timestamptz
)
