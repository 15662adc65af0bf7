ts <= (select materializer.clock())
        and ts >= (select materializer.clock()) - interval '1 hour'
