create source if not exists transactions__raw
    in cluster quickstart
    from kafka connection fraud__kafka__redpanda_9092 (
        topic 'transactions'
    )
    format json
