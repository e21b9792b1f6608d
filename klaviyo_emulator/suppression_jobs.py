"""A suppression job (`profile-suppression-bulk-create-job` or `...-delete-job`) as Klaviyo
reports it: the emulator applies it when it answers the POST, and reports the states a client
must follow: `queued` in the POST's answer, `processing` at the first read, `complete` from the
second on (like a profile import job, store.ImportJob)."""

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class SuppressionJob:
    id: str
    type: str  # profile-suppression-bulk-create-job | profile-suppression-bulk-delete-job
    total_count: int
    completed_count: int
    skipped_count: int
    created_at: datetime
    list_ids: list[str] = field(default_factory=list)
    reads: int = 0

    @property
    def status(self) -> str:
        return ("queued", "processing")[self.reads] if self.reads < 2 else "complete"
