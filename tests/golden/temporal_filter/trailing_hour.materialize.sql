mz_now() >= ts
        and ts + interval '1 hour' >= mz_now()
