"""One dynamic partition per LAION release part, key ``<release>-<part>`` in ``[a-z0-9_-]``."""

import dagster as dg

laion_parts = dg.DynamicPartitionsDefinition(name="laion_parts")
