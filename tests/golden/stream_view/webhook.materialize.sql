create view clicks as
select
    cast(body ->> 'tx_id' as uuid) as tx_id,
    cast(body ->> 'ts' as timestamptz) as ts
from clicks__raw
