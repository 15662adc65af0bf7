-- Metrics per window (1d, 7d), overall, by model version and by channel.
{{ materializer.monitor_view(scored=ref('fraud_model__scored')) }}
