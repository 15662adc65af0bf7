-- The fixed drift bins of the score, from the validation set's deciles (a table: computed once per build).
{{ config(materialized='table') }}
{{ materializer.monitor_view(reference=events('training_scores')) }}
