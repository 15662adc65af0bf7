reported_at + interval '192 hours' >= mz_now()
