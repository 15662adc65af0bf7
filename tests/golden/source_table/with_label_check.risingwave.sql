create table if not exists chargebacks (
    tx_id varchar,
    is_fraud integer
) append only
