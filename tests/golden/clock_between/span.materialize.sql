mz_now() >= predicted_at + spans.opens
        and predicted_at + spans.closes >= mz_now()
