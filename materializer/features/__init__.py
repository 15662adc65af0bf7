"""Features: online lookups (``online``), on-demand features (``on_demand``), point-in-time training
sets (``training``) and the online/offline consistency check (``verify``)."""
