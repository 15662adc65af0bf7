mz_now() >= ts
