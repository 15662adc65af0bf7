to_timestamp(floor(extract(epoch from cohort_at) / 3600) * 3600)
