ts <= (select materializer.clock())
