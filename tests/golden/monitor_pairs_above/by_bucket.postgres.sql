select
        bucket_start,
        slice,
        slice_value,
        sum(negatives * positives_above) as pairs
    from (
        select
            bucket_start,
            slice,
            slice_value,
            negatives,
            coalesce(sum(positives) over (
                partition by bucket_start, slice, slice_value
                order by bin
                rows between 1 following and unbounded following
            ), 0) as positives_above
        from histogram
    ) as running
    group by bucket_start, slice, slice_value
