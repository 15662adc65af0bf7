-- One row per prediction id: deduplicated (the earliest wins) and joined to its chargeback.
{{ materializer.monitor_view(predictions=events('predictions'), outcomes=events('chargebacks')) }}
