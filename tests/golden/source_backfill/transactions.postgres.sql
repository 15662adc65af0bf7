create view transactions__all as
select
    tx_id,
    cc_num,
    amount,
    ts
from raw.transactions_history
where ts < cast('2026-11-01T00:00:00+00:00' as timestamptz)
union all
select
    tx_id,
    cc_num,
    amount,
    ts
from transactions
where ts >= cast('2026-11-01T00:00:00+00:00' as timestamptz)
