"""Lead scoring for Cultiveat: rules as data, set-based scores, hot leads and a predictive model."""

__version__ = "0.1.0"
