"""SQL generation: the Jinja environment that renders ``sql_macros/`` outside dbt (``render``) and the
objects of a project for an engine (``compile``)."""
