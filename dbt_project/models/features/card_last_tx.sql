-- The latest transaction of each card; the definition is the model's meta (features.yml).
{{ config(indexes=[{'columns': ['cc_num']}] if target.type == 'materialize' else []) }}
{{ materializer.feature_view(events('transactions')) }}
