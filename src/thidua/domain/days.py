"""Days as the clusters count them: deadlines and membership dates are days in Hanoi."""

from datetime import date, datetime, timedelta, timezone

HANOI = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")


def local_day(moment: datetime) -> date:
    """The calendar day in Vietnam of an aware moment."""
    return moment.astimezone(HANOI).date()
