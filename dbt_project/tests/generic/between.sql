{#- The rows where a value lies outside [min_value, max_value] (nulls pass: a metric with no denominator is null). -#}
{% test between(model, column_name, min_value, max_value) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}
{% endtest %}
