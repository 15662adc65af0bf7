alter table transactions
    drop constraint if exists transactions__amount__finite,
    add constraint transactions__amount__finite check (amount > '-Infinity' and amount < 'Infinity') not valid
