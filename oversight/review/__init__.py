"""Human review: the shared escalation queue that reviewers work from the CLI and the web page.

Use `ReviewService(store, config, project_dir)`: authenticate a token, claim under a
lease, decide, release; admins reassign, settle disagreements and read the audit log.
Decisions are recorded first and applied later by `ReviewService.apply(resume)`, where
the caller (cli/review.py) builds the `Resumer` that resumes the graph thread.
"""

from oversight.review.apply import Resumer
from oversight.review.config import ReviewConfig, load_review_config
from oversight.review.models import (
    ACTIONS,
    ApplyOutcome,
    AuditRecord,
    DecisionInput,
    DecisionView,
    ItemSummary,
    ItemView,
    PrincipleInfo,
    QueueStats,
    ReasonOverturn,
    Reviewer,
    ReviewerRate,
)
from oversight.review.service import ReviewService
from oversight.review.stats import cohen_kappa
from oversight.review.views import REASON_KINDS, reason_kind

__all__ = [
    "ACTIONS", "REASON_KINDS", "ApplyOutcome", "AuditRecord", "DecisionInput", "DecisionView",
    "ItemSummary", "ItemView", "PrincipleInfo", "QueueStats", "ReasonOverturn", "Resumer",
    "ReviewConfig", "ReviewService", "Reviewer", "ReviewerRate", "cohen_kappa", "load_review_config",
    "reason_kind",
]
