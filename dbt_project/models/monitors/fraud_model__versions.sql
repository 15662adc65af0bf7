-- Model versions compared pairwise, with significance.
{{ materializer.monitor_view(metrics=ref('fraud_model__metrics')) }}
