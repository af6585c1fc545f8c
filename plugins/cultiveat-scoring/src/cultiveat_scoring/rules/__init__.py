"""Rule sets: the default (seed 003's Contact Scoring) and validation of user-edited ones."""

from cultiveat_scoring.rules.defaults import default_rule_set
from cultiveat_scoring.rules.validation import validate_rule_set

__all__ = ["default_rule_set", "validate_rule_set"]
