predicted_at + spans.opens <= materializer.clock()
        and predicted_at + spans.closes >= materializer.clock()
