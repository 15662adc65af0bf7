create source if not exists transactions__raw
    in cluster quickstart
    from kafka connection fraud__kafka__redpanda_9092 (
        topic 'tx.events-v2',
        start timestamp -1
    )
    format json
