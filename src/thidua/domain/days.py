"""Days as the clusters count them: deadlines and membership dates are days in Hanoi."""

from datetime import date, datetime, time, timedelta, timezone

from thidua.domain.errors import RuleViolation

HANOI = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")


def local_day(moment: datetime) -> date:
    """The calendar day in Vietnam of an aware moment."""
    return moment.astimezone(HANOI).date()


LATE_DAYS = 7  # recorded more than this many days after it happened: a reason is required


def business_day(given: date | None, recorded: date, year: int | None, reason: str | None) -> date:
    """The day a fact happened. Without one given, the day it is recorded. A day given is
    checked: not after the day it is recorded, inside its year (from December before it,
    for the conference, to the end of the year after it, for the city's decisions), and
    recorded more than a week late only with a reason."""
    if given is None:
        return recorded
    day = given
    if day > recorded:
        raise RuleViolation(
            "FUTURE_DAY",
            f"Ngày {day:%d/%m/%Y} chưa đến: không thể ghi một việc xảy ra trong tương lai.",
        )
    if year is not None and not date(year - 1, 12, 1) <= day <= date(year + 1, 12, 31):
        raise RuleViolation(
            "OUTSIDE_YEAR",
            f"Ngày {day:%d/%m/%Y} nằm ngoài năm thi đua {year} (từ 01/12/{year - 1} "
            f"đến 31/12/{year + 1}).",
        )
    late = (recorded - day).days
    if late > LATE_DAYS and not (reason and reason.strip()):
        raise RuleViolation(
            "LATE_REASON_REQUIRED",
            f"Việc xảy ra ngày {day:%d/%m/%Y} được ghi sau {late} ngày: "
            "cần nêu lý do ghi muộn (reason).",
        )
    return day


def moment_of(day: date, recorded_at: datetime) -> datetime:
    """The moment of a fact: when it is recorded if it happened that day, else noon in
    Hanoi on the day it happened (the hour of a paper record is not known)."""
    if day == local_day(recorded_at):
        return recorded_at
    return datetime.combine(day, time(12), HANOI)
