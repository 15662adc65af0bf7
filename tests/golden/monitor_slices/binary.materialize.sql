select
        window_name,
        'all' as slice,
        'all' as slice_value,
        bin, n, n_labelled, pending, n_invalid, tp, fp, tn, fn, sum_log_loss, sum_brier, sum_score
    from cells

    union all

    select
        window_name,
        'version' as slice,
        coalesce(cast(model_version as text), '(null)') as slice_value,
        bin, n, n_labelled, pending, n_invalid, tp, fp, tn, fn, sum_log_loss, sum_brier, sum_score
    from cells

    union all

    select
        window_name,
        'channel' as slice,
        coalesce(cast(channel as text), '(null)') as slice_value,
        bin, n, n_labelled, pending, n_invalid, tp, fp, tn, fn, sum_log_loss, sum_brier, sum_score
    from cells
