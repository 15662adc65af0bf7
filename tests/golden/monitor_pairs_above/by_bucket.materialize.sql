select
        low.bucket_start,
        low.slice,
        low.slice_value,
        sum(low.negatives * high.positives) as pairs
    from histogram as low
    inner join histogram as high
        on high.bucket_start = low.bucket_start and high.slice = low.slice and high.slice_value = low.slice_value
        and high.bin > low.bin
    group by low.bucket_start, low.slice, low.slice_value
