create table if not exists chargebacks (
    tx_id text,
    is_fraud integer
)
