reported_at + interval '192 hours' >= now()
