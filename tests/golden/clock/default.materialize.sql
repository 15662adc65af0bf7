mz_now()
