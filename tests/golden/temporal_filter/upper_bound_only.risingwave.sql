ts <= now()
