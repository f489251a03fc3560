"""Declarative alarms: rules as data, pure evaluation, and the ISA-18.2-style lifecycle (an engine: no I/O)."""

from tvilling.alarms.engine import RuleState, Sample, Transition, evaluate
from tvilling.alarms.lifecycle import OPEN_STATES, STATES, Alarm, acknowledge, clear, reactivate
from tvilling.alarms.rules import (
    SEVERITIES,
    AlarmRule,
    AlarmRuleError,
    RuleSet,
    check_rules,
    load_rules,
    parse_rules,
)

__all__ = ["OPEN_STATES", "SEVERITIES", "STATES", "Alarm", "AlarmRule", "AlarmRuleError", "RuleSet", "RuleState",
           "Sample", "Transition", "acknowledge", "check_rules", "clear", "evaluate", "load_rules", "parse_rules",
           "reactivate"]
