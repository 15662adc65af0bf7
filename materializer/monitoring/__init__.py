"""Model monitoring: reading a monitor's metrics, time series, version comparisons and drift
(``metrics``)."""
