alter table chargebacks
    drop constraint if exists chargebacks__is_fraud__binary,
    add constraint chargebacks__is_fraud__binary check (is_fraud in (0, 1)) not valid
