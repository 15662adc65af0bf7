ts <= materializer.clock()
        and ts >= materializer.clock() - interval '1 hour'
