date_bin(interval '1 hour', cohort_at, timestamptz '1970-01-01 00:00:00+00')
