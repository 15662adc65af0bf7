-- Metrics per hour.
{{ materializer.monitor_view(scored=ref('fraud_model__scored')) }}
