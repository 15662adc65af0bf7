create table if not exists chargebacks (
    tx_id text,
    is_fraud integer,
    constraint chargebacks__is_fraud__binary check (is_fraud in (0, 1))
)
