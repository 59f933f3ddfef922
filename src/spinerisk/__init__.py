"""spinerisk: outcome prediction along the MRI-phenotype-to-intervention pathway for low-back pain.

Decision support for research use.
"""

__version__ = "0.1.0"

