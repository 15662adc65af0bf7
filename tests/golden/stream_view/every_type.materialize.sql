create view transactions as
select
    cast(data ->> 'tx_id' as uuid) as tx_id,
    cast(data ->> 'ts' as timestamptz) as ts,
    data ->> 'cc_num' as cc_num,
    cast(data ->> 'amount' as numeric(12,2)) as amount,
    cast(data ->> 'n' as integer) as n,
    cast(data ->> 'big' as bigint) as big,
    cast(data ->> 'x' as double precision) as x,
    cast(data ->> 'ok' as boolean) as ok,
    data -> 'meta' as meta,
    cast(data ->> 'day' as date) as day
from transactions__raw
