predicted_at + spans.opens <= (select materializer.clock())
        and predicted_at + spans.closes >= (select materializer.clock())
