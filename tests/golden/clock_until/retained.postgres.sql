reported_at + interval '192 hours' >= (select materializer.clock())
