(select materializer.clock())
