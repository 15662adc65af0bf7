create index if not exists transactions__cc_num_ts__idx on transactions (cc_num, ts)
