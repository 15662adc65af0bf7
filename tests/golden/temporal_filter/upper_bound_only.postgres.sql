ts <= materializer.clock()
