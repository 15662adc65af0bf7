materializer.clock()
