"""materializer: a streaming-database-native feature store and ML monitor in pure SQL.

The public Python API::

    from materializer import Project

    project = Project.load("materializer.yml")
    result = project.online_features("card_activity", {"cc_num": "c1"})
    result.features["tx_count_1h"], result.statuses["tx_count_1h"]
"""

from __future__ import annotations

from materializer.errors import MaterializerError
from materializer.project import Project

__all__ = ["MaterializerError", "Project", "__version__"]
__version__ = "0.1.0"
