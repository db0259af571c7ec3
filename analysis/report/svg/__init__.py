"""Hand-written inline SVG figures for the report and the dashboard.

No plotting library: each figure is a string of SVG built from report rows, with every piece
of text from the data escaped (``base.esc``), so the report stays one self-contained file that
prints well and cannot run a script hidden in a model name.
"""

from .charts import distribution_chart, orr_perception_chart
from .effects import bradley_terry_chart, forest_plot, position_bias_chart, quota_histogram
from .flow import flow_diagram

__all__ = [
    "bradley_terry_chart",
    "distribution_chart",
    "flow_diagram",
    "forest_plot",
    "orr_perception_chart",
    "position_bias_chart",
    "quota_histogram",
]
