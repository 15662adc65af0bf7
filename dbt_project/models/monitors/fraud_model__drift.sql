-- Drift of the score (psi, js, ks) against the reference bins, per window.
{{ materializer.monitor_view(scored=ref('fraud_model__scored'), reference=ref('fraud_model__reference')) }}
