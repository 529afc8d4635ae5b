"""Everything the generate script prints, as text lines made from typed results: the plan and
the questions about it (``plan``), the events of a run, its progress (flex, ``--wait``) and its
interrupt messages (``events``), and how it ends: the flex report, the last words and the exit
code (``ending``). The same results as JSON are ``run_json``'s; the shared phrases (counts, id
lists, money, commands) are ``wording``'s.
"""

from .ending import conclusion, flex_report_lines, next_requests, stop_message
from .events import RunWords, interrupted_message
from .plan import (
    confirm_question,
    describe_effort_mix,
    describe_model,
    effort_shares,
    format_plan,
    paying_again_question,
    tag_order,
)

__all__ = [
    "RunWords", "conclusion", "confirm_question", "describe_effort_mix", "describe_model", "effort_shares",
    "flex_report_lines", "format_plan", "interrupted_message", "next_requests", "paying_again_question",
    "stop_message", "tag_order",
]
