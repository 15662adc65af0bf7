stddev_samp(amount)
