create connection fraud__kafka__redpanda_9092 to kafka (
    broker 'redpanda:9092',
    security protocol = 'PLAINTEXT'
)
