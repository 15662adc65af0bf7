predicted_at + spans.opens <= now()
        and predicted_at + spans.closes >= now()
