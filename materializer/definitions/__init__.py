"""The project file: its typed form (``spec``), its validation (``validate``, ``monitors``, ``checks``),
durations and time parsing."""
