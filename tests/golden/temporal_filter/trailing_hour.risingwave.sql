ts <= now()
        and ts + interval '1 hour' >= now()
